// The gateway's metrics (Prometheus, via prom-client) and the client interceptor that times
// every backend RPC. A registry per gateway, so tests can run several in one process.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

export interface GatewayMetrics {
  registry: Registry;
  requests: Counter<"route" | "method" | "status">;
  seconds: Histogram<"route">;
  operations: Counter<"type">;
  errors: Counter<"code">;
  validations: Counter;
  backendCalls: Counter<"service" | "method" | "code">;
  backendSeconds: Histogram<"service" | "method">;
}

export function createGatewayMetrics(): GatewayMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ app: "gateway" });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  return {
    registry,
    requests: new Counter({
      name: "gateway_http_requests_total",
      help: "HTTP requests answered by the gateway, by route, method and status.",
      labelNames: ["route", "method", "status"],
      registers,
    }),
    seconds: new Histogram({
      name: "gateway_http_request_duration_seconds",
      help: "Time from receiving an HTTP request to its response, by route.",
      labelNames: ["route"],
      buckets,
      registers,
    }),
    operations: new Counter({
      name: "graphql_operations_total",
      help: "GraphQL operations executed, by type (query, mutation).",
      labelNames: ["type"],
      registers,
    }),
    errors: new Counter({
      name: "graphql_errors_total",
      help: "GraphQL errors returned to callers, by extensions.code.",
      labelNames: ["code"],
      registers,
    }),
    validations: new Counter({
      name: "graphql_documents_validated_total",
      help: "GraphQL documents validated (one seen before, or of a shape that passed, is not).",
      registers,
    }),
    backendCalls: new Counter({
      name: "gateway_backend_rpc_total",
      help: "RPCs the gateway made to the services, by service, method and status code.",
      labelNames: ["service", "method", "code"],
      registers,
    }),
    backendSeconds: new Histogram({
      name: "gateway_backend_rpc_seconds",
      help: "Latency of the gateway's RPCs to the services.",
      labelNames: ["service", "method"],
      buckets,
      registers,
    }),
  };
}

/** Counts and times each backend RPC; installed on the transports the gateway builds. */
export function backendMetricsInterceptor(metrics: GatewayMetrics): Interceptor {
  return (next) => async (req) => {
    const labels = { service: req.service.typeName, method: req.method.name };
    const started = performance.now();
    let code = "OK";
    try {
      return await next(req);
    } catch (error) {
      code = Code[ConnectError.from(error).code] ?? "Unknown";
      throw error;
    } finally {
      metrics.backendCalls.inc({ ...labels, code });
      metrics.backendSeconds.observe(labels, (performance.now() - started) / 1000);
    }
  };
}
