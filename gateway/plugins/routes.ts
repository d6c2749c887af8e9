// The gateway's HTTP routes besides GraphQL itself: / redirects to the endpoint, the probes,
// Prometheus metrics, and GraphiQL for a browser navigating to the endpoint.
import type { Plugin } from "graphql-yoga";
import type { GraphiQLPage } from "../graphiql.js";
import { wantsGraphiQL } from "../graphiql.js";
import type { GatewayMetrics } from "../observability.js";
import type { ReadinessCheck } from "../readiness.js";

export interface RouteOptions {
  endpoint: string;
  /** Undefined where introspection is off: the page would only show errors there. */
  graphiql: GraphiQLPage | undefined;
  metrics: GatewayMetrics;
  /** The services' states, reported by /readyz (they do not make the gateway unready). */
  ready: ReadinessCheck;
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });

export function routes({ endpoint, graphiql, metrics, ready }: RouteOptions): Plugin {
  // Synchronous for GraphQL itself: an async hook made every request wait a turn for nothing.
  const answer = async (request: Request, path: string): Promise<Response | undefined> => {
    if (path === "/readyz") {
      // Ready while it serves (see readiness.ts); the services' states are for people reading.
      return json(200, { status: "ready", services: await ready() });
    }
    if (path === "/metrics") {
      return new Response(await metrics.registry.metrics(), {
        headers: { "content-type": metrics.registry.contentType, "cache-control": "no-store" },
      });
    }
    if (path === endpoint && wantsGraphiQL(request)) {
      return graphiql
        ? await graphiql.response(request)
        : new Response(
            "GraphiQL is off here because introspection is off. POST GraphQL queries to this endpoint.\n",
            { status: 404, headers: { "content-type": "text/plain; charset=utf-8" } },
          );
    }
    return undefined;
  };
  return {
    onRequest({ request, url, endResponse }) {
      const path = url.pathname;
      if (path === endpoint && request.method === "POST") return;
      if (path === "/" && (request.method === "GET" || request.method === "HEAD")) {
        endResponse(new Response(null, { status: 302, headers: { location: endpoint } }));
        return;
      }
      if (path === "/healthz") {
        endResponse(json(200, { status: "alive" }));
        return;
      }
      if (path !== "/readyz" && path !== "/metrics" && path !== endpoint) return;
      return answer(request, path).then((response) => {
        if (response) endResponse(response);
      });
    },
  };
}
