// The storefront's tiny server: the built page, /config.json telling it where the services
// are, the /healthz and /readyz every Bazaar process answers, and, when it forwards the
// services (proxy.ts), their RPC paths. Hashed assets are cached for good; index.html and
// config.json never, so a new build or address shows at once.
import { readFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, sep } from "node:path";
import { createForwarder } from "./proxy.js";
import type { PageConfig } from "./src/page-config.js";

const types: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
};

export interface StorefrontServer {
  url: string;
  stop(): Promise<void>;
}

export interface StorefrontOptions {
  /** The built page (see build.ts). */
  dir: string;
  /** The three services' addresses: handed to the page, or forwarded to when `forward`. */
  services: PageConfig;
  /** Serve the services under this origin; the page then calls only its own origin. */
  forward?: boolean;
  port: number;
  host?: string;
}

const ownOrigin: PageConfig = { accountUrl: "/", catalogUrl: "/", orderUrl: "/" };

/** The page may talk to its own origin and to the three services, nothing else. */
function contentSecurityPolicy(page: PageConfig): string {
  const services = [page.accountUrl, page.catalogUrl, page.orderUrl]
    .filter((u) => u !== "/")
    .map((u) => ` ${new URL(u).origin}`);
  return [
    "default-src 'self'",
    `connect-src 'self'${[...new Set(services)].join("")}`,
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

export async function startStorefront(options: StorefrontOptions): Promise<StorefrontServer> {
  const page = options.forward ? ownOrigin : options.services;
  const config = JSON.stringify(page);
  const policy = contentSecurityPolicy(page);
  const forwarder = options.forward ? createForwarder(options.services) : undefined;
  const server = http.createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (forwarder?.handle(req, res, path)) return;
    const send = (status: number, type: string, body: string | Buffer, cache = "no-cache") => {
      res.writeHead(status, {
        "content-type": type,
        "cache-control": cache,
        "content-security-policy": policy,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
      });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/healthz" || path === "/readyz") return send(200, "text/plain", "ok\n");
    if (path === "/config.json") return send(200, types[".json"] as string, config);
    let file: string;
    try {
      file = normalize(join(options.dir, decodeURIComponent(path === "/" ? "/index.html" : path)));
    } catch {
      return send(400, "text/plain", "bad path\n");
    }
    // normalize() resolves "..": a path that still leaves the folder is refused.
    if (!file.startsWith(options.dir + sep)) return send(404, "text/plain", "not found\n");
    try {
      const body = await readFile(file);
      const immutable = path.startsWith("/assets/")
        ? "public, max-age=31536000, immutable"
        : undefined;
      send(200, types[extname(file)] ?? "application/octet-stream", body, immutable);
    } catch {
      // One page, no client-side routes: anything else is simply missing.
      send(404, "text/plain", "not found\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}`,
    stop: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        forwarder?.close();
      }),
  };
}
