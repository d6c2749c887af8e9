// CORS with the services' rules (platform/config.ts corsOrigins): the origins in CORS_ORIGINS,
// or any localhost origin outside production. A browser GraphQL client on another origin (urql,
// Apollo Client, graphql-request, a page on another port) sends a preflight first: it is
// answered here, before GraphQL sees the request.
import type { Plugin } from "graphql-yoga";
import { originMatcher } from "../../platform/http/cors.js";

const allowedMethods = "GET, POST, OPTIONS";
// What GraphQL clients send: JSON bodies, a bearer token, our request id, and a subscription's
// resume cursor.
const allowedHeaders = "Content-Type, Accept, Authorization, X-Request-Id, Last-Event-ID";
const exposedHeaders = "X-Request-Id";

export function cors(origins: readonly (string | RegExp)[]): Plugin {
  const allowed = originMatcher(origins);
  return {
    onRequest({ request, endResponse }) {
      const origin = request.headers.get("origin");
      if (origin === null) return;
      if (request.method !== "OPTIONS" || !request.headers.get("access-control-request-method"))
        return;
      endResponse(
        allowed(origin)
          ? new Response(null, {
              status: 204,
              headers: {
                "access-control-allow-origin": origin,
                "access-control-allow-methods": allowedMethods,
                "access-control-allow-headers": allowedHeaders,
                "access-control-max-age": "7200",
                vary: "Origin",
              },
            })
          : new Response(`origin ${origin} is not allowed (set CORS_ORIGINS)\n`, {
              status: 403,
              headers: { "content-type": "text/plain; charset=utf-8", vary: "Origin" },
            }),
      );
    },
    onResponse({ request, response }) {
      const origin = request.headers.get("origin");
      if (origin === null || request.method === "OPTIONS" || !allowed(origin)) return;
      response.headers.set("access-control-allow-origin", origin);
      response.headers.set("access-control-expose-headers", exposedHeaders);
      response.headers.append("vary", "Origin");
    },
  };
}
