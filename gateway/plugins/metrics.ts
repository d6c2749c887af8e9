// Counts and times every HTTP request by route, every executed operation by type, and every
// error returned by its code. Goes before the routes plugin, so the probes are timed too.
import type { DefinitionNode, ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { GatewayMetrics } from "../observability.js";

export function metricsPlugin(metrics: GatewayMetrics, endpoint: string): Plugin {
  const started = new WeakMap<Request, { at: number; route: string }>();
  const routes = new Set(["/", "/healthz", "/readyz", "/metrics", endpoint]);
  return {
    onRequest({ request, url }) {
      // The URL the other hooks of this request read too, parsed once (a second parse per
      // request in onResponse was measurable).
      const path = url.pathname;
      started.set(request, { at: performance.now(), route: routes.has(path) ? path : "other" });
    },
    onResponse({ request, response }) {
      const since = started.get(request);
      if (since === undefined) return;
      const { route } = since;
      metrics.requests.inc({ route, method: request.method, status: String(response.status) });
      metrics.seconds.observe({ route }, (performance.now() - since.at) / 1000);
    },
    onExecute({ args }) {
      const operation = args.document.definitions.find(
        (d: DefinitionNode) => d.kind === "OperationDefinition",
      );
      metrics.operations.inc({ type: operation?.operation ?? "unknown" });
    },
    onResultProcess({ result }) {
      for (const one of (Array.isArray(result) ? result : [result]) as ExecutionResult[]) {
        for (const error of one?.errors ?? []) {
          const code = error.extensions?.code;
          metrics.errors.inc({
            code: typeof code === "string" ? code : "GRAPHQL_VALIDATION_FAILED",
          });
        }
      }
    },
  };
}
