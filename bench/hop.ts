// The hop alone: bench:gateway's reference for what any gateway in front of the services must
// spend, whatever it is built with. A node:http server that, for the two calls issue 21 measures
// through the gateway, does only what the gateway cannot avoid: read the request, make the same
// backend call with the gateway's own client (gateway/clients.ts, with its request id, deadline
// and caller headers), and answer the same JSON. No GraphQL: no document, validation, plugins,
// limits, logs, metrics or traces. The gateway's CPU per request over this one's is what the
// GraphQL layer costs beyond the hop (bench/gateway.ts prints both).
//
//   POST /products     {"skip": n}                       → { data: { products: [{ id, name, price }] } }
//   POST /nested       {"skip": n}                       → { data: { accounts: [{ orders: [{ products:
//                                                            [{ product: { name } }] }] }] } }
//   POST /createOrder  {"productId", "quantity", "key"}  → { data: { createOrder: { id } } }
//
// And Yoga alone, the least the gateway's framework costs a request: `POST /graphql` is GraphQL
// Yoga with the options the gateway gives it and none of its plugins, answering `{ ok }` from a
// one-field schema with no backend call. The gateway's CPU per request is at least about the
// hop's plus this (bench/gateway.ts prints the split).
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { CallOptions } from "@connectrpc/connect";
import { createSchema, createYoga } from "graphql-yoga";
import { createBackends, createTransports } from "../gateway/clients.js";
import { loadGatewayConfig } from "../gateway/config.js";
import { centsToPrice } from "../gateway/money.js";
import { yogaFeatures } from "../gateway/server.js";

const config = loadGatewayConfig();
const backends = createBackends(createTransports(config).transports);

function callOptions(req: http.IncomingMessage): CallOptions {
  const headers: Record<string, string> = { "x-request-id": randomUUID() };
  if (req.headers.authorization) headers.authorization = req.headers.authorization;
  if (req.socket.remoteAddress) headers["x-forwarded-for"] = req.socket.remoteAddress;
  return { headers, timeoutMs: config.BACKEND_TIMEOUT_MS };
}

const routes: Record<string, (body: never, call: CallOptions) => Promise<unknown>> = {
  async "/products"(body: { skip: number }, call) {
    const { products } = await backends.catalog.listProducts({ skip: body.skip, take: 20 }, call);
    return {
      products: products.map((p) => ({
        id: p.id,
        name: p.name,
        price: centsToPrice(p.priceCents),
      })),
    };
  },
  // The nested query's three calls, one after the other, as the gateway makes them (its loaders
  // batch each level into one call).
  async "/nested"(body: { skip: number }, call) {
    const { accounts } = await backends.account.listAccounts({ skip: body.skip, take: 50 }, call);
    const { accountOrders } = await backends.order.batchListOrdersForAccounts(
      { accountIds: accounts.map((account) => account.id) },
      call,
    );
    const ids = new Set(
      accountOrders.flatMap((a) => a.orders.flatMap((o) => o.items.map((i) => i.productId))),
    );
    const { products } = await backends.catalog.batchGetProducts({ ids: [...ids] }, call);
    const names = new Map(products.map((p) => [p.id, p.name]));
    const ordersOf = new Map(accountOrders.map((a) => [a.accountId, a.orders]));
    return {
      accounts: accounts.map((account) => ({
        orders: (ordersOf.get(account.id) ?? []).map((order) => ({
          products: order.items.map((item) => ({ product: { name: names.get(item.productId) } })),
        })),
      })),
    };
  },
  async "/createOrder"(body: { productId: string; quantity: number; key: string }, call) {
    const { order } = await backends.order.createOrder(
      {
        items: [{ productId: body.productId, quantity: body.quantity }],
        idempotencyKey: body.key,
      },
      call,
    );
    return { createOrder: { id: order?.id } };
  },
};

// The options gateway/server.ts sets; its plugins left out.
const yoga = createYoga({
  schema: createSchema({
    typeDefs: "type Query { ok: Int! }",
    resolvers: { Query: { ok: () => 1 } },
  }),
  logging: false,
  ...yogaFeatures,
});

http
  .createServer((req, res) => {
    if (req.url === "/readyz") {
      res.end("ok");
      return;
    }
    if (req.url === "/graphql") {
      yoga(req, res);
      return;
    }
    const route = routes[req.url ?? ""];
    if (req.method !== "POST" || route === undefined) {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        res.writeHead(400, { "content-type": "application/json" });
        res.end('{"errors":[{"message":"the body is not JSON"}]}');
        return;
      }
      route(body as never, callOptions(req)).then(
        (data) => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ data }));
        },
        (error: Error) => {
          res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify({ errors: [{ message: error.message }] }));
        },
      );
    });
  })
  .listen(Number(process.env.PORT), "127.0.0.1");

// Exits on the bench's SIGTERM, so that `--cpu-prof` (bench:gateway --profile) writes its profile.
process.on("SIGTERM", () => process.exit(0));
