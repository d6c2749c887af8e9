import http from "node:http";
import type { AddressInfo } from "node:net";
import { SpanKind } from "@opentelemetry/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "../faults/stack.js";
import { adminAuth, customer, product } from "../services/order/testing.js";
import { expectCreateOrderTrace, httpScope, type SpanView } from "./trace-shape.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// OTLP/JSON as the exporter sends it: ids in hex, kinds counted from SPAN_KIND_INTERNAL = 1.
interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpRequest {
  resourceSpans: {
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: {
      scope: { name: string };
      spans: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: OtlpAttribute[];
      }[];
    }[];
  }[];
}

const plain = (value: OtlpValue) =>
  value.stringValue ?? value.boolValue ?? value.doubleValue ?? Number(value.intValue);
const attributesOf = (list: OtlpAttribute[] = []) =>
  Object.fromEntries(list.map((a) => [a.key, plain(a.value)]));

/** A stand-in OTLP/HTTP collector: keeps every span it is sent. */
async function startCollector(): Promise<{ url: string; spans: SpanView[]; close(): void }> {
  const spans: SpanView[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.url === "/v1/traces") {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as OtlpRequest;
        for (const { resource, scopeSpans } of body.resourceSpans) {
          const service = String(attributesOf(resource.attributes)["service.name"]);
          for (const { scope, spans: sent } of scopeSpans) {
            for (const span of sent) {
              spans.push({
                traceId: span.traceId,
                spanId: span.spanId,
                parentId: span.parentSpanId || undefined,
                name: span.name,
                kind: (span.kind - 1) as SpanKind,
                scope: scope.name,
                service,
                attributes: attributesOf(span.attributes),
              });
            }
          }
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, spans, close: () => server.close() };
}

describe("tracing across processes", () => {
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let stack: Stack;
  let gatewayUrl: string;
  const gatewayLog: string[] = [];
  let buyer: { token: string };
  let ids: string[];
  const saved = { ...process.env };

  beforeAll(async () => {
    collector = await startCollector();
    // The stack's processes inherit this process's environment.
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = collector.url;
    process.env.OTEL_BSP_SCHEDULE_DELAY = "100";
    stack = await startStack();
    ({ url: gatewayUrl } = await stack.startGateway({
      // Its log lines are read below: each one inside a request names the request's trace.
      env: { LOG_LEVEL: "info", LOG_PRETTY: "false" },
      onLine: (line) => gatewayLog.push(line),
    }));
    buyer = await customer(stack.accounts, stack.authority);
    const admin = await adminAuth(stack.authority);
    ids = await Promise.all([1, 2].map(() => product(stack.catalog, admin, 250, 10)));
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
    collector?.close();
    process.env = saved;
  }, 60_000);

  it("one createOrder is one trace from four processes, with an HTTP server span per hop", async () => {
    const res = await fetch(`${gatewayUrl}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${buyer.token}` },
      body: JSON.stringify({
        query: `mutation PlaceOrder($o: OrderInput!) { createOrder(order: $o) { id } }`,
        variables: { o: { products: ids.map((id) => ({ id, quantity: 1 })) } },
      }),
    });
    expect(((await res.json()) as { errors?: unknown }).errors).toBeUndefined();

    // Each process sends its batch within ~100 ms; wait until the trace stops growing.
    let root: SpanView | undefined;
    let trace: SpanView[] = [];
    for (let i = 0, count = -1; i < 50; i++) {
      await sleep(300);
      root ??= collector.spans.find(
        (s) => s.scope === httpScope && s.name === "POST /graphql" && s.service === "gateway",
      );
      if (!root) continue;
      trace = collector.spans.filter((s) => s.traceId === root?.traceId);
      if (trace.length === count) break;
      count = trace.length;
    }
    expect(root, "the gateway's HTTP server span arrived").toBeDefined();
    if (!root) return;
    expectCreateOrderTrace(root, trace, {
      gateway: "gateway",
      account: "account",
      catalog: "catalog",
      order: "order",
    });
    // The gateway's log line for the request (written after the operation's span ended, inside
    // the HTTP server span) names the trace.
    const line = gatewayLog
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === "graphql" && l.operation === "PlaceOrder");
    expect(line, "the gateway logged the request").toBeDefined();
    expect(line?.traceId).toBe(root.traceId);
    // Only the HTTP instrumentation and our own spans: nothing else got patched in.
    expect(new Set(trace.map((s) => s.scope))).toEqual(new Set([httpScope, "bazaar"]));
    expect(trace.filter((s) => s.kind === SpanKind.CLIENT && s.scope === httpScope)).toEqual([]);
  });
});
