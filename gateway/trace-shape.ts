// The shape one createOrder trace must have (issue 11 item 4), checked over spans from either
// source: the in-memory exporter of the in-process test, or OTLP/JSON the real processes sent.
import { SpanKind } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-node";
import { expect } from "vitest";

export const httpScope = "@opentelemetry/instrumentation-http";

/** What the assertions read of a span, whichever way it arrived. */
export interface SpanView {
  traceId: string;
  spanId: string;
  parentId: string | undefined;
  name: string;
  kind: SpanKind;
  scope: string;
  /** The resource's service.name: which process made it. */
  service: string;
  attributes: Record<string, unknown>;
}

export function viewOf(span: ReadableSpan): SpanView {
  return {
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentId: span.parentSpanContext?.spanId,
    name: span.name,
    kind: span.kind,
    scope: span.instrumentationScope.name,
    service: String(span.resource.attributes["service.name"]),
    attributes: { ...span.attributes },
  };
}

/**
 * Asserts the trace under `root` (the gateway's HTTP server span): GraphQL operation → Connect
 * client span → HTTP server span of the callee → Connect server span → its calls and SQL, all
 * one trace. With `services`, each hop's spans must come from the named process.
 */
export function expectCreateOrderTrace(
  root: SpanView,
  spans: SpanView[],
  services?: { gateway: string; account: string; catalog: string; order: string },
): void {
  const childrenOf = (parent: SpanView) => spans.filter((s) => s.parentId === parent.spanId);
  const only = (found: SpanView[], what: string) => {
    expect(found, what).toHaveLength(1);
    return found[0] as SpanView;
  };
  const from = (span: SpanView, service: keyof NonNullable<typeof services>) => {
    if (services)
      expect(span.service, `${span.name} is made by the ${service}`).toBe(services[service]);
  };

  expect(root).toMatchObject({ scope: httpScope, kind: SpanKind.SERVER, name: "POST /graphql" });
  expect(root.parentId).toBeUndefined();
  expect(root.attributes["http.route"]).toBe("/graphql");
  from(root, "gateway");
  const operation = only(childrenOf(root), "the HTTP request runs one operation");
  expect(operation).toMatchObject({ kind: SpanKind.SERVER, name: "mutation PlaceOrder" });
  expect(operation.attributes).toMatchObject({
    "graphql.operation.type": "mutation",
    "graphql.operation.name": "PlaceOrder",
  });
  from(operation, "gateway");

  /** The Connect client span under `parent` calling `rpc`, down to the span that served it. */
  const call = (parent: SpanView, rpc: string, callee: "account" | "catalog" | "order") => {
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
    const http = only(childrenOf(client), `${rpc} reached the callee's HTTP server`);
    expect(http).toMatchObject({ scope: httpScope, kind: SpanKind.SERVER, name: `POST /${rpc}` });
    expect(http.attributes["http.route"]).toBe(`/${rpc}`);
    from(http, callee);
    const server = only(childrenOf(http), `${rpc} answered inside its HTTP span`);
    expect(server).toMatchObject({ kind: SpanKind.SERVER, name: rpc, scope: "bazaar" });
    expect(server.attributes["rpc.service"]).toBe(service);
    from(server, callee);
    return server;
  };
  const sqlUnder = (span: SpanView) =>
    childrenOf(span).filter((s) => s.attributes["db.system.name"] === "postgresql");

  const order = call(operation, "bazaar.order.v1.OrderService/CreateOrder", "order");
  const account = call(order, "bazaar.account.v1.AccountService/BatchGetAccounts", "account");
  const reserve = call(order, "bazaar.catalog.v1.CatalogService/ReserveStock", "catalog");
  const commit = call(order, "bazaar.catalog.v1.CatalogService/CommitReservation", "catalog");
  expect(sqlUnder(account).length).toBeGreaterThan(0);
  for (const catalog of [reserve, commit]) {
    const statements = sqlUnder(catalog);
    expect(statements.length, `SQL under ${catalog.name}`).toBeGreaterThan(0);
    for (const statement of statements) {
      expect(statement.kind).toBe(SpanKind.CLIENT);
      expect(statement.attributes["db.query.text"]).toEqual(expect.any(String));
      expect(statement.name).toMatch(/^(SELECT|INSERT|UPDATE|DELETE|WITH) \w+$/);
      from(statement, "catalog");
    }
  }
  const orderSql = sqlUnder(order).map((s) => s.attributes["db.collection.name"]);
  expect(orderSql).toContain("orders");

  // One trace: everything hangs off a span of it. No HTTP client spans (the Connect client
  // span is the outgoing call), and every HTTP server span wraps exactly one operation or call.
  const ids = new Set(spans.map((s) => s.spanId));
  for (const span of spans) {
    expect(span.traceId).toBe(root.traceId);
    if (span.spanId !== root.spanId)
      expect(ids.has(span.parentId ?? ""), `${span.name}'s parent`).toBe(true);
    if (span.scope === httpScope) {
      expect(span.kind, `${span.name} is a server span`).toBe(SpanKind.SERVER);
      expect(childrenOf(span), `under ${span.name}`).toHaveLength(1);
    }
  }
}
