// The shape of one createOrder trace (issue 11 item 4), in one process: the gateway and the three
// services on real HTTP servers, so the official HTTP instrumentation's server spans sit between
// each Connect client span and the server span that answered it, one trace carried between the
// servers by `traceparent`. tracing-processes.test.ts checks the same shape across processes.
import { context, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTracing, type Tracing, traceFields } from "../platform/observability/tracing.js";
import type { RunningGateway } from "./main.js";
import {
  type GatewayTestbed,
  listeningGateway,
  openGatewayTestbed,
  type Shop,
  seedShop,
} from "./testing.js";
import { expectCreateOrderTrace, httpScope, viewOf } from "./trace-shape.js";

const exporter = new InMemorySpanExporter();
let tracing: Tracing | undefined;
let t: GatewayTestbed;
let shop: Shop;
let gateway: RunningGateway;

beforeAll(async () => {
  // Before the services open their databases and servers, so every hook sees tracing on.
  tracing = await startTracing("bazaar-test", { exporter });
  t = await openGatewayTestbed();
  shop = await seedShop(t);
  // The testbed's gateway answers through `yoga.fetch`; this one listens like the real process.
  gateway = await listeningGateway(t.stack.urls);
}, 60_000);
afterAll(async () => {
  await gateway?.stop();
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
    const res = await fetch(`${gateway.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${shop.ada.token}` },
      body: JSON.stringify({
        query: `mutation PlaceOrder($o: OrderInput!) { createOrder(order: $o) { id } }`,
        variables: {
          o: {
            products: [
              { id: pen?.id, quantity: 1 },
              { id: notebook?.id, quantity: 2 },
            ],
          },
        },
      }),
    });
    expect(((await res.json()) as { errors?: unknown }).errors).toBeUndefined();

    const root = exporter
      .getFinishedSpans()
      .find((s) => s.name === "POST /graphql" && s.instrumentationScope.name === httpScope);
    expect(root, "the gateway's HTTP server span").toBeDefined();
    if (!root) return;
    const spans = await settledTrace(root.spanContext().traceId);
    expectCreateOrderTrace(viewOf(root), spans.map(viewOf));
  });

  it("a caller's traceparent makes the gateway's request its child, in the caller's trace", async () => {
    exporter.reset();
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const callerSpan = "00f067aa0ba902b7";
    await (
      await fetch(`${gateway.url}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          traceparent: `00-${traceId}-${callerSpan}-01`,
        },
        body: JSON.stringify({ query: "query Hello { __typename }" }),
      })
    ).text();
    await sleep(50);
    const spans = exporter.getFinishedSpans().map(viewOf);
    const root = spans.find((s) => s.scope === httpScope);
    expect(root).toMatchObject({ traceId, parentId: callerSpan, name: "POST /graphql" });
    expect(spans.find((s) => s.name === "query Hello")).toMatchObject({
      traceId,
      parentId: root?.spanId,
    });
  });

  it("health checks and metrics scrapes make no trace", async () => {
    exporter.reset();
    for (const path of ["/healthz", "/readyz", "/metrics"]) {
      await (await fetch(`${gateway.url}${path}`)).text();
      await (await fetch(`${t.stack.urls.catalog}${path}`)).text();
    }
    // Any other path is traced: the same HTTP instrumentation is at work.
    await (await fetch(`${t.stack.urls.catalog}/nothing-here`)).text();
    await sleep(50);
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(["GET"]);
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
