import { Code, ConnectError } from "@connectrpc/connect";
import { GraphQLError } from "graphql";
import { describe, expect, it } from "vitest";
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
