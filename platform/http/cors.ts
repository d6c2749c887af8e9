// CORS for browsers calling the services directly (Connect-Web): the origins in CORS_ORIGINS, or
// any localhost origin in development (config.ts decides the list).

import type http from "node:http";
import type http2 from "node:http2";
import { cors as connectCors } from "@connectrpc/connect";

type ServerRequest = http.IncomingMessage | http2.Http2ServerRequest;
type ServerResponse = http.ServerResponse | http2.Http2ServerResponse;

export function originMatcher(origins: readonly (string | RegExp)[]): (origin: string) => boolean {
  return (origin) =>
    origins.some((rule) =>
      typeof rule === "string" ? rule === "*" || rule === origin : rule.test(origin),
    );
}

const allowedHeaders = [...connectCors.allowedHeaders, "Authorization", "X-Request-Id"].join(", ");
const exposedHeaders = [...connectCors.exposedHeaders, "X-Request-Id"].join(", ");
const allowedMethods = connectCors.allowedMethods.join(", ");

/** Answers a CORS preflight itself (returns true), or adds CORS headers for an allowed origin. */
export function applyCors(
  req: ServerRequest,
  res: ServerResponse,
  allowOrigin: (origin: string) => boolean,
): boolean {
  const origin = req.headers.origin;
  if (typeof origin !== "string") return false;
  const allowed = allowOrigin(origin);
  if (allowed) {
    res.setHeader("access-control-allow-origin", origin);
    res.setHeader("vary", "Origin");
    res.setHeader("access-control-expose-headers", exposedHeaders);
  }
  if (req.method !== "OPTIONS" || !req.headers["access-control-request-method"]) return false;
  if (!allowed) {
    res.writeHead(403, { "content-type": "text/plain; charset=utf-8" });
    res.end(`origin ${origin} is not allowed (set CORS_ORIGINS)\n`);
    return true;
  }
  res.writeHead(204, {
    "access-control-allow-methods": allowedMethods,
    "access-control-allow-headers": allowedHeaders,
    "access-control-max-age": "7200",
  });
  res.end();
  return true;
}
