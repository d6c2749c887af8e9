// The gateway's Connect transport (connect-transport.ts over http-client.ts, and over
// http2-client.ts for BACKEND_PROTOCOL=connect-h2) against a stubbed catalog on a real port, and
// against a server that hangs up: answers, headers, error details, deadlines, and the codes a
// lost connection gets, as the gateway's transports are made.
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CatalogService, ProductSchema } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import { freePort } from "../platform/testing.js";
import { createTransports } from "./clients.js";
import { loadGatewayConfig } from "./config.js";

type Protocol = "connect" | "connect-h2";

describe.each<Protocol>(["connect", "connect-h2"])(
  "the gateway's Connect transport (%s)",
  (protocol) => {
    const servers: (http.Server | http2.Http2Server)[] = [];
    const seen: Headers[] = [];

    async function listen(handler: http.RequestListener): Promise<string> {
      // The services answer HTTP/1.1 and h2c on one port; a stub speaks the protocol under test.
      const server =
        protocol === "connect-h2"
          ? http2.createServer(handler as unknown as (req: http2.Http2ServerRequest) => void)
          : http.createServer(handler);
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }

    function catalogAt(url: string) {
      const config = loadGatewayConfig({
        PORT: "0",
        ACCOUNT_URL: url,
        CATALOG_URL: url,
        ORDER_URL: url,
        BACKEND_PROTOCOL: protocol,
      });
      const made = createTransports(config);
      return { client: createClient(CatalogService, made.transports.catalog), close: made.close };
    }

    let stub: ReturnType<typeof catalogAt>;

    beforeAll(async () => {
      const url = await listen(
        connectNodeAdapter({
          routes: (router) =>
            router.service(CatalogService, {
              getProduct(req, ctx) {
                seen.push(ctx.requestHeader);
                ctx.responseHeader.set("x-answered-by", "stub");
                return { product: create(ProductSchema, { id: req.id, name: "Fountain pen" }) };
              },
              listProducts(req) {
                if (req.take > 50) {
                  throw new ConnectError("invalid take", Code.InvalidArgument, undefined, [
                    {
                      desc: BadRequestSchema,
                      value: {
                        fieldViolations: [{ field: "take", description: "must be 1 to 50" }],
                      },
                    },
                  ]);
                }
                // Answers after any deadline a test sets.
                return new Promise((resolve) => setTimeout(() => resolve({ products: [] }), 3_000));
              },
            }),
        }),
      );
      stub = catalogAt(url);
    });

    afterAll(() => {
      stub?.close();
      for (const server of servers)
        if ("closeAllConnections" in server) server.closeAllConnections();
      for (const server of servers) server.close();
    });

    it("sends the call's headers and deadline, and returns the answer and its headers", async () => {
      let answered: Headers | undefined;
      const res = await stub.client.getProduct(
        { id: "p1" },
        {
          headers: { "x-request-id": "r-1" },
          timeoutMs: 2_000,
          onHeader: (header) => {
            answered = header;
          },
        },
      );
      expect(res.product?.name).toBe("Fountain pen");
      expect(answered?.get("x-answered-by")).toBe("stub");
      const sent = seen.at(-1);
      expect(sent?.get("x-request-id")).toBe("r-1");
      expect(Number(sent?.get("connect-timeout-ms"))).toBeGreaterThan(0);
      expect(Number(sent?.get("connect-timeout-ms"))).toBeLessThanOrEqual(2_000);
      expect(sent?.get("content-type")).toBe("application/proto");
    });

    it("reads a service's error with its details", async () => {
      const error = await stub.client.listProducts({ take: 60 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectError);
      const connectError = error as ConnectError;
      expect(connectError.code).toBe(Code.InvalidArgument);
      expect(connectError.rawMessage).toBe("invalid take");
      expect(connectError.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field).toBe("take");
    });

    it("gives up at the deadline with DEADLINE_EXCEEDED, and a caller's abort cancels", async () => {
      const started = performance.now();
      const late = await stub.client
        .listProducts({ take: 10 }, { timeoutMs: 100 })
        .catch((e: unknown) => e);
      expect((late as ConnectError).code).toBe(Code.DeadlineExceeded);
      expect(performance.now() - started).toBeLessThan(1_500);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const cancelled = await stub.client
        .listProducts({ take: 10 }, { signal: controller.signal })
        .catch((e: unknown) => e);
      expect((cancelled as ConnectError).code).toBe(Code.Canceled);
      // The connection is still good for the next call.
      expect((await stub.client.getProduct({ id: "p2" })).product?.id).toBe("p2");
    });

    it("a refused connection is UNAVAILABLE", async () => {
      const closed = catalogAt(`http://127.0.0.1:${await freePort()}`);
      try {
        const error = await closed.client.getProduct({ id: "p1" }).catch((e: unknown) => e);
        expect((error as ConnectError).code).toBe(Code.Unavailable);
      } finally {
        closed.close();
      }
    });

    it("a connection reset before the answer is ABORTED; a read is sent again (three attempts in all), a write not", async () => {
      let requests = 0;
      const url = await listen((req) => {
        requests++;
        req.socket.destroy();
      });
      const hangingUp = catalogAt(url);
      try {
        const read = await hangingUp.client.getProduct({ id: "p1" }).catch((e: unknown) => e);
        expect((read as ConnectError).code).toBe(Code.Aborted);
        expect((read as ConnectError).rawMessage).toMatch(/socket hang up|ECONNRESET/);
        expect(requests).toBe(3);
        requests = 0;
        const write = await hangingUp.client
          .createProduct({ name: "x", priceCents: 1n })
          .catch((e: unknown) => e);
        expect((write as ConnectError).code).toBe(Code.Aborted);
        expect(requests).toBe(1);
      } finally {
        hangingUp.close();
      }
    });
  },
);
