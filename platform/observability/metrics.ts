// Prometheus metrics for one server: RPC counts and latency by service, method and code,
// plus the process metrics. A registry per server, so tests can run many in one process.
import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

export interface RpcMetrics {
  registry: Registry;
  handled: Counter<"grpc_service" | "grpc_method" | "grpc_code">;
  seconds: Histogram<"grpc_service" | "grpc_method" | "grpc_code">;
}

export function createMetrics(service: string): RpcMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ app: service });
  collectDefaultMetrics({ register: registry });
  const labelNames = ["grpc_service", "grpc_method", "grpc_code"] as const;
  return {
    registry,
    handled: new Counter({
      name: "rpc_server_handled_total",
      help: "RPCs completed on the server, by service, method and status code.",
      labelNames,
      registers: [registry],
    }),
    seconds: new Histogram({
      name: "rpc_server_handling_seconds",
      help: "Time from receiving an RPC to its response, by service, method and status code.",
      labelNames,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}
