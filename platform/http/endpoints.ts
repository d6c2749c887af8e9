// What a service port serves besides RPCs: the liveness and readiness probes and /metrics.

import type http from "node:http";
import type http2 from "node:http2";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import type { Logger } from "../observability/logger.js";
import type { RpcMetrics } from "../observability/metrics.js";
import type { HealthState } from "./health.js";

type ServerRequest = http.IncomingMessage | http2.Http2ServerRequest;
type ServerResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface EndpointOptions {
  /** Resolves when the service can do its work (its database answers). */
  ready: () => Promise<void>;
  metrics: RpcMetrics;
  logger: Logger;
}

const readinessTimeoutMs = 2_000;

/** What is not an RPC: probes and metrics. */
export async function plainEndpoints(
  req: ServerRequest,
  res: ServerResponse,
  options: EndpointOptions,
  health: HealthState,
): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  const send = (status: number, body: string, type = "application/json") => {
    res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
    res.end(body);
  };
  if (req.method !== "GET" && req.method !== "HEAD") {
    send(404, JSON.stringify({ error: `no route for ${req.method} ${path}` }));
    return;
  }
  switch (path) {
    case "/healthz":
      send(200, JSON.stringify({ status: "alive" }));
      return;
    case "/readyz": {
      if (health.get("") !== ServingStatus.SERVING) {
        send(503, JSON.stringify({ status: "shutting down" }));
        return;
      }
      try {
        await withTimeout(options.ready(), readinessTimeoutMs);
        send(200, JSON.stringify({ status: "ready" }));
      } catch {
        send(503, JSON.stringify({ status: "not ready", reason: "database does not answer" }));
      }
      return;
    }
    case "/metrics":
      try {
        send(200, await options.metrics.registry.metrics(), options.metrics.registry.contentType);
      } catch (error) {
        options.logger.error({ err: error }, "metrics collection failed");
        send(500, JSON.stringify({ error: "metrics collection failed" }));
      }
      return;
    default:
      send(
        404,
        JSON.stringify({
          error: `no route for GET ${path}`,
          routes: ["/healthz", "/readyz", "/metrics"],
        }),
      );
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
