// The shape of one createOrder trace (issue 11 item 4): the gateway's operation span, its call
// to the order service, the order service's calls to account and catalog, and the SQL under
// them, all one trace, carried between the servers by `traceparent` over real HTTP.
import { context, SpanKind, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTracing, type Tracing, traceFields } from "../platform/tracing.js";
import { type GatewayTestbed, openGatewayTestbed, type Shop, seedShop } from "./testing.js";

const exporter = new InMemorySpanExporter();
let tracing: Tracing | undefined;
let t: GatewayTestbed;
let shop: Shop;

beforeAll(async () => {
  // Before the services open their databases and servers, so every hook sees tracing on.
  tracing = startTracing("bazaar-test", { exporter });
  t = await openGatewayTestbed();
  shop = await seedShop(t);
}, 60_000);
afterAll(async () => {
  await t?.close();
  await tracing?.shutdown();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The spans of `traceId` once no new one arrived for a while (the saga ends after the reply). */
async function settledTrace(traceId: string): Promise<ReadableSpan[]> {
  let count = -1;
  for (let i = 0; i < 50; i++) {
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    if (spans.length === count) return spans;
    count = spans.length;
    await sleep(100);
  }
  throw new Error("the trace never settled");
}

describe("tracing", () => {
  it("one createOrder is one trace: gateway → order → account, catalog → SQL", async () => {
    expect(tracing).toBeDefined();
    exporter.reset();
    const [pen, notebook] = shop.products;
    const res = await t.gw.gql<{ createOrder: { id: string } }>(
      `mutation PlaceOrder($o: OrderInput!) { createOrder(order: $o) { id } }`,
      {
        variables: {
          o: {
            products: [
              { id: pen?.id, quantity: 1 },
              { id: notebook?.id, quantity: 2 },
            ],
          },
        },
        token: shop.ada.token,
      },
    );
    expect(res.errors).toBeUndefined();

    const root = exporter.getFinishedSpans().find((s) => s.name === "mutation PlaceOrder");
    expect(root, "the operation's span").toBeDefined();
    if (!root) return;
    expect(root.parentSpanContext).toBeUndefined();
    expect(root.kind).toBe(SpanKind.SERVER);
    expect(root.attributes).toMatchObject({
      "graphql.operation.type": "mutation",
      "graphql.operation.name": "PlaceOrder",
    });
    const spans = await settledTrace(root.spanContext().traceId);
    const childrenOf = (parent: ReadableSpan) =>
      spans.filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId);
    const only = (found: ReadableSpan[], what: string) => {
      expect(found, what).toHaveLength(1);
      return found[0] as ReadableSpan;
    };
    /** The client span under `parent` calling `rpc`, and the server span that answered it. */
    const call = (parent: ReadableSpan, rpc: string) => {
      const client = only(
        childrenOf(parent).filter((s) => s.name === rpc && s.kind === SpanKind.CLIENT),
        `${parent.name} calls ${rpc}`,
      );
      const [service, method] = rpc.split("/");
      expect(client.attributes).toMatchObject({
        "rpc.system": "connect_rpc",
        "rpc.service": service,
        "rpc.method": method,
      });
      expect(client.attributes["rpc.connect_rpc.error_code"]).toBeUndefined();
      const server = only(
        childrenOf(client).filter((s) => s.kind === SpanKind.SERVER),
        `${rpc} answered`,
      );
      expect(server.name).toBe(rpc);
      expect(server.attributes["rpc.service"]).toBe(service);
      return server;
    };
    const sqlUnder = (span: ReadableSpan) =>
      childrenOf(span).filter((s) => s.attributes["db.system.name"] === "postgresql");

    const order = call(root, "bazaar.order.v1.OrderService/CreateOrder");
    const account = call(order, "bazaar.account.v1.AccountService/BatchGetAccounts");
    const reserve = call(order, "bazaar.catalog.v1.CatalogService/ReserveStock");
    const commit = call(order, "bazaar.catalog.v1.CatalogService/CommitReservation");
    expect(sqlUnder(account).length).toBeGreaterThan(0);
    for (const catalog of [reserve, commit]) {
      const statements = sqlUnder(catalog);
      expect(statements.length, `SQL under ${catalog.name}`).toBeGreaterThan(0);
      for (const statement of statements) {
        expect(statement.kind).toBe(SpanKind.CLIENT);
        expect(statement.attributes["db.query.text"]).toEqual(expect.any(String));
        expect(statement.name).toMatch(/^(SELECT|INSERT|UPDATE|DELETE|WITH) \w+$/);
      }
    }
    const orderSql = sqlUnder(order).map((s) => s.attributes["db.collection.name"]);
    expect(orderSql).toContain("orders");
    // Nothing of this trace hangs off a span outside it.
    const ids = new Set(spans.map((s) => s.spanContext().spanId));
    for (const span of spans) {
      if (span !== root) expect(ids.has(span.parentSpanContext?.spanId ?? "")).toBe(true);
    }
  });

  it("log lines name the active trace and span (the logger's mixin), none outside a span", () => {
    const span = trace.getTracer("test").startSpan("outside");
    const fields = context.with(trace.setSpan(context.active(), span), traceFields);
    span.end();
    expect(fields).toEqual({
      traceId: span.spanContext().traceId,
      spanId: span.spanContext().spanId,
    });
    expect(traceFields()).toEqual({});
  });
});
