import http from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { GraphQLError } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CatalogService } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import { argumentPath, graphqlError, isExpected, maskError } from "./errors.js";

describe("argumentPath", () => {
  it("renames proto fields to the GraphQL argument they came from", () => {
    const order = { under: "order", rename: { items: "products", product_id: "id" } };
    expect(argumentPath("items[3].product_id", order)).toBe("order.products[3].id");
    expect(argumentPath("items", order)).toBe("order.products");
    expect(argumentPath("idempotency_key", order)).toBe("order.idempotencyKey");
    expect(argumentPath("request", order)).toBe("order");
    const patch = { under: "patch", rename: { new_password: "password" }, root: ["id"] };
    expect(argumentPath("id", patch)).toBe("id");
    expect(argumentPath("new_password", patch)).toBe("patch.password");
    expect(argumentPath("current_password", patch)).toBe("patch.currentPassword");
    expect(argumentPath("ids[0]")).toBe("ids[0]");
  });
});

describe("graphqlError", () => {
  it("gives a service's invalid argument the spec's code and the callers' field names", () => {
    const details = [
      {
        desc: BadRequestSchema,
        value: {
          fieldViolations: [{ field: "price_cents", description: "must be 1 to 100000000" }],
        },
      },
    ];
    const connect = new ConnectError("invalid", Code.InvalidArgument, undefined, details);
    const error = graphqlError(connect, { under: "product", rename: { price_cents: "price" } });
    expect(error).toBeInstanceOf(GraphQLError);
    expect((error as GraphQLError).extensions).toEqual({
      code: "BAD_USER_INPUT",
      fields: [{ field: "product.price", message: "must be 1 to 100000000" }],
    });
    expect(isExpected(error)).toBe(true);
  });

  it("leaves the unexpected as it is, for maskError to hide", () => {
    const internal = new ConnectError("relation does not exist", Code.Internal);
    expect(graphqlError(internal)).toBe(internal);
    const masked = maskError(new GraphQLError("x", { originalError: internal }));
    expect(masked.message).toBe("Unexpected error.");
    expect((masked as GraphQLError).extensions.code).toBe("INTERNAL_SERVER_ERROR");
  });
});

describe("a peer that dies mid-call", () => {
  // A peer that accepts the request and dies before answering.
  let dying: http.Server;
  let url: string;
  beforeAll(async () => {
    dying = http.createServer((req) => req.socket.destroy());
    await new Promise<void>((resolve) => dying.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(dying.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => dying.close(() => resolve())));

  it("makes a peer's socket hang-up (ABORTED from the transport) UNAVAILABLE", async () => {
    const client = createClient(
      CatalogService,
      createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
    );
    const error = await client.getProduct({ id: "x" }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.Aborted);
    expect((graphqlError(error) as GraphQLError).extensions.code).toBe("UNAVAILABLE");
  });

  it("leaves an ABORTED a service answered on purpose masked", () => {
    const aborted = new ConnectError("conflict", Code.Aborted);
    expect(graphqlError(aborted)).toBe(aborted);
  });

  it("makes a write to a socket the peer closed (INTERNAL over EPIPE) UNAVAILABLE, but not a service's INTERNAL", () => {
    const epipe = Object.assign(new Error("write EPIPE"), { code: "EPIPE" });
    const lost = new ConnectError("write EPIPE", Code.Internal, undefined, undefined, epipe);
    expect((graphqlError(lost) as GraphQLError).extensions.code).toBe("UNAVAILABLE");
    const answered = new ConnectError("internal error", Code.Internal);
    expect(graphqlError(answered)).toBe(answered);
  });
});
