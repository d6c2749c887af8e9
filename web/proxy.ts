// The storefront forwarding the three services' RPC paths under its own origin, so that in a
// cluster the page needs only the storefront reachable (and no CORS): a request for
// /bazaar.catalog.v1.CatalogService/… goes to the catalog, streamed both ways, and nothing
// else is forwarded. A service that cannot be reached is a Connect "unavailable" error, which
// the page shows as "try again".
import http from "node:http";
import https from "node:https";
import type { PageConfig } from "./src/page-config.js";

/** As the services' own MAX_MESSAGE_BYTES default: a bigger body would be refused there anyway. */
export const maxRequestBytes = 4 * 1024 * 1024;

const routes = [
  ["/bazaar.account.v1.AccountService/", "accountUrl", "account"],
  ["/bazaar.catalog.v1.CatalogService/", "catalogUrl", "catalog"],
  ["/bazaar.order.v1.OrderService/", "orderUrl", "order"],
] as const;

// RFC 9110 §7.6.1: these describe one connection, not the message; host is the upstream's own.
const hopByHop = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
]);

export interface Forwarder {
  /** Forwards the request and returns true when its path belongs to a service. */
  handle(req: http.IncomingMessage, res: http.ServerResponse, path: string): boolean;
  close(): void;
}

export function createForwarder(upstreams: PageConfig): Forwarder {
  const agents = {
    "http:": new http.Agent({ keepAlive: true, maxSockets: 64 }),
    "https:": new https.Agent({ keepAlive: true, maxSockets: 64 }),
  };
  const targets = routes.map(([prefix, key, name]) => ({
    prefix,
    name,
    base: new URL(upstreams[key]),
  }));

  return {
    handle(req, res, path) {
      const target = targets.find((t) => path.startsWith(t.prefix));
      if (!target) return false;
      const fail = (status: number, code: string, message: string) => {
        if (res.writableEnded) return;
        if (res.headersSent) return void res.destroy();
        res.writeHead(status, { "content-type": "application/json", connection: "close" });
        res.end(JSON.stringify({ code, message }));
      };
      if (req.method !== "GET" && req.method !== "POST") {
        res.writeHead(405, { allow: "GET, POST" }).end();
        return true;
      }
      if (Number(req.headers["content-length"] ?? 0) > maxRequestBytes) {
        req.resume();
        fail(413, "resource_exhausted", `request body over ${maxRequestBytes} bytes`);
        return true;
      }
      const { base } = target;
      const upstream = (base.protocol === "https:" ? https : http).request({
        protocol: base.protocol,
        hostname: base.hostname,
        port: base.port,
        method: req.method,
        path: base.pathname.replace(/\/+$/, "") + (req.url ?? path),
        headers: forwardedHeaders(req),
        agent: base.protocol === "https:" ? agents["https:"] : agents["http:"],
      });
      upstream.on("response", (answer) => {
        const headers = Object.fromEntries(
          Object.entries(answer.headers).filter(([name]) => !hopByHop.has(name)),
        );
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
        answer.on("error", () => res.destroy());
      });
      upstream.on("error", () =>
        fail(503, "unavailable", `the ${target.name} service is unavailable, try again`),
      );
      // The shopper went away: stop the upstream call too.
      res.on("close", () => {
        if (!res.writableFinished) upstream.destroy();
      });
      let received = 0;
      req.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received <= maxRequestBytes) return;
        req.unpipe(upstream);
        upstream.destroy();
        fail(413, "resource_exhausted", `request body over ${maxRequestBytes} bytes`);
      });
      req.pipe(upstream);
      return true;
    },
    close() {
      agents["http:"].destroy();
      agents["https:"].destroy();
    },
  };
}

function forwardedHeaders(req: http.IncomingMessage): http.OutgoingHttpHeaders {
  // Headers the client names in Connection are hop-by-hop as well.
  const named = new Set(
    String(req.headers.connection ?? "")
      .split(",")
      .map((s) => s.trim().toLowerCase()),
  );
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (!hopByHop.has(name) && !named.has(name) && value !== undefined) headers[name] = value;
  }
  const client = req.socket.remoteAddress ?? "unknown";
  const prior = req.headers["x-forwarded-for"];
  headers["x-forwarded-for"] = prior ? `${prior}, ${client}` : client;
  return headers;
}
