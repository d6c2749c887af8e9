// One port per service for every protocol: gRPC over cleartext HTTP/2 (prior knowledge) and
// Connect / gRPC-Web over HTTP/1.1, plus /healthz, /readyz and /metrics.
//
// Node's http2 server without TLS speaks only HTTP/2, so a plain `net` server reads the first
// bytes of each connection: the HTTP/2 client preface sends the socket to the http2 server,
// anything else to the http1 server. Unlike "h2c upgrade", this is what gRPC clients with prior
// knowledge speak. `npm run bench:one-port` measures the hand-off against a plain node:http
// server with the same handler and interceptors: 0.99× (9,600 vs 9,700 req/s, Connect JSON,
// keep-alive, 2 cores), i.e. nothing measurable, so every service gets all protocols on one port.
import { EventEmitter, setMaxListeners } from "node:events";
import http from "node:http";
import http2 from "node:http2";
import net, { BlockList, type Socket } from "node:net";
import type { DescFile } from "@bufbuild/protobuf";
import { type ConnectRouter, cors as connectCors } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  file_grpc_health_v1_health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../gen/grpc/health/v1/health_pb.js";
import { authInterceptor, type TokenAuthority } from "./auth.js";
import { clientContextValues } from "./client-address.js";
import { HealthState, healthRoutes } from "./health.js";
import { observeInterceptor, requestIdInterceptor } from "./interceptors.js";
import type { Logger } from "./logger.js";
import type { RpcMetrics } from "./metrics.js";
import { reflectionRoutes } from "./reflection.js";

export interface ServeOptions {
  routes: (router: ConnectRouter) => void;
  /** The generated files of the services served, for reflection. */
  files: readonly DescFile[];
  /** Fully-qualified names of the services served, for health. */
  serviceNames: readonly string[];
  authority: TokenAuthority;
  logger: Logger;
  metrics: RpcMetrics;
  /** Resolves when the service can do its work (its database answers). */
  ready: () => Promise<void>;
  corsOrigins: readonly (string | RegExp)[];
  /** Proxies believed about the client's address (X-Forwarded-For); none when not given. */
  trustedProxies?: BlockList | undefined;
  maxMessageBytes: number;
  host?: string | undefined;
  port: number;
  /** How long an HTTP/1.1 client may take to send its request headers (slow-loris guard). */
  headersTimeoutMs?: number;
}

export interface RunningServer {
  port: number;
  /** http://host:port, for clients and tests. */
  url: string;
  health: HealthState;
  /** Stops accepting, lets in-flight calls finish (up to `graceMs`), then closes every socket. */
  close(graceMs?: number): Promise<void>;
}

type ServerRequest = http.IncomingMessage | http2.Http2ServerRequest;
type ServerResponse = http.ServerResponse | http2.Http2ServerResponse;

// Invalid UTF-8 in a JSON body is refused (INVALID_ARGUMENT) instead of being silently turned
// into U+FFFD. connect-es reads `textDecoder` from its JSON options at run time; its public
// type does not list it, hence a variable rather than an object literal.
const strictUtf8Json = {
  ignoreUnknownFields: true,
  textDecoder: new TextDecoder("utf-8", { fatal: true }),
};

const http2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const firstByteTimeoutMs = 10_000;
const idleTimeoutMs = 300_000;
const readinessTimeoutMs = 2_000;

export async function serve(options: ServeOptions): Promise<RunningServer> {
  const health = new HealthState();
  const shutdown = new AbortController();
  // Every call in flight listens on this signal: many at once is normal, not a leak.
  setMaxListeners(0, shutdown.signal);
  const rpc = connectNodeAdapter({
    routes: (router) => {
      options.routes(router);
      healthRoutes(health)(router);
      reflectionRoutes([...options.files, file_grpc_health_v1_health])(router);
    },
    interceptors: [
      requestIdInterceptor(),
      observeInterceptor(options.logger, options.metrics),
      authInterceptor(options.authority),
    ],
    readMaxBytes: options.maxMessageBytes,
    jsonOptions: strictUtf8Json,
    shutdownSignal: shutdown.signal,
    contextValues: clientContextValues(options.trustedProxies ?? new BlockList()),
    fallback: (req, res) => void plainEndpoints(req, res as ServerResponse, options, health),
  });
  const allowOrigin = originMatcher(options.corsOrigins);
  const tracker = new ConnectionTracker();

  const handle = (req: ServerRequest, res: ServerResponse) => {
    tracker.requestStarted(req, res);
    if (applyCors(req, res, allowOrigin)) return;
    rpc(req, res);
  };

  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  const http1Server = http.createServer(
    {
      keepAliveTimeout: 5_000,
      headersTimeout,
      requestTimeout: 300_000,
      connectionsCheckingInterval: Math.min(1_000, headersTimeout),
    },
    handle,
  );
  http1Server.timeout = idleTimeoutMs;
  // node:http enforces headersTimeout and requestTimeout from a timer it starts on "listening";
  // this server never listens itself (the net listener hands it sockets), so start it here.
  http1Server.emit("listening");
  const http2Server = http2.createServer({}, handle);
  http2Server.setTimeout(idleTimeoutMs);
  http2Server.on("session", (session) => tracker.sessionOpened(session));

  const listener = net.createServer((socket) => {
    tracker.socketOpened(socket);
    socket.on("error", () => socket.destroy());
    socket.setTimeout(firstByteTimeoutMs, () => socket.destroy());
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const length = Math.min(buffered.length, http2Preface.length);
      const looksLikeHttp2 = buffered.subarray(0, length).equals(http2Preface.subarray(0, length));
      if (looksLikeHttp2 && buffered.length < http2Preface.length) return; // wait for the rest
      socket.off("data", onData);
      socket.pause();
      socket.setTimeout(0);
      socket.unshift(buffered);
      if (looksLikeHttp2) {
        // No resume() here: the http2 session reads the unshifted preface itself.
        tracker.markHttp2(socket);
        http2Server.emit("connection", socket);
      } else {
        http1Server.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("data", onData);
  });

  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen({ port: options.port, host: options.host }, () => {
      listener.off("error", reject);
      resolve();
    });
  });
  const address = listener.address() as net.AddressInfo;
  const urlHost =
    !options.host || options.host === "0.0.0.0" || options.host === "::"
      ? "localhost"
      : options.host;
  for (const name of ["", ...options.serviceNames]) health.set(name, ServingStatus.SERVING);

  let closing: Promise<void> | undefined;
  return {
    port: address.port,
    url: `http://${urlHost.includes(":") ? `[${urlHost}]` : urlHost}:${address.port}`,
    health,
    close: (graceMs = 10_000) => {
      closing ??= (async () => {
        health.shutdown();
        const stopped = new Promise<void>((resolve) => listener.close(() => resolve()));
        // In-flight calls get the grace period to finish; what still runs after it (a
        // long stream) is cancelled through its context signal before sockets close.
        await tracker.drain(graceMs, () => shutdown.abort());
        await stopped;
        http1Server.close(() => {}); // stops its timeout timer; it holds no sockets by now
      })();
      return closing;
    },
  };
}

/** Tracks sockets, HTTP/2 sessions and requests, so shutdown can let in-flight calls finish. */
class ConnectionTracker extends EventEmitter {
  #sockets = new Set<Socket>();
  #sessions = new Set<http2.ServerHttp2Session>();
  #busy = new Map<Socket, number>();
  #http2Sockets = new WeakSet<Socket>();
  #draining = false;

  /** HTTP/2 sockets drain through their session's close(), never by ending the socket. */
  markHttp2(socket: Socket) {
    this.#http2Sockets.add(socket);
  }

  socketOpened(socket: Socket) {
    this.#sockets.add(socket);
    socket.once("close", () => {
      this.#sockets.delete(socket);
      this.#busy.delete(socket);
      if (this.#sockets.size === 0) this.emit("empty");
    });
  }

  sessionOpened(session: http2.ServerHttp2Session) {
    this.#sessions.add(session);
    session.once("close", () => this.#sessions.delete(session));
    if (this.#draining) session.close();
  }

  requestStarted(req: ServerRequest, res: ServerResponse) {
    if (req.httpVersionMajor >= 2) return; // HTTP/2 sessions drain themselves on close()
    const socket = req.socket as Socket;
    this.#busy.set(socket, (this.#busy.get(socket) ?? 0) + 1);
    if (this.#draining) (res as http.ServerResponse).setHeader("connection", "close");
    res.once("close", () => {
      const left = (this.#busy.get(socket) ?? 1) - 1;
      this.#busy.set(socket, left);
      if (this.#draining && left === 0) socket.end();
    });
  }

  async drain(graceMs: number, onGraceOver: () => void): Promise<void> {
    this.#draining = true;
    for (const session of this.#sessions) session.close();
    for (const socket of this.#sockets) {
      if (!this.#http2Sockets.has(socket) && (this.#busy.get(socket) ?? 0) === 0) socket.end();
    }
    if (this.#sockets.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.once("empty", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    onGraceOver();
    for (const socket of this.#sockets) socket.destroy();
  }
}

function originMatcher(origins: readonly (string | RegExp)[]): (origin: string) => boolean {
  return (origin) =>
    origins.some((rule) =>
      typeof rule === "string" ? rule === "*" || rule === origin : rule.test(origin),
    );
}

const allowedHeaders = [...connectCors.allowedHeaders, "Authorization", "X-Request-Id"].join(", ");
const exposedHeaders = [...connectCors.exposedHeaders, "X-Request-Id"].join(", ");
const allowedMethods = connectCors.allowedMethods.join(", ");

/** Answers a CORS preflight itself (returns true), or adds CORS headers for an allowed origin. */
function applyCors(
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

/** What is not an RPC: probes and metrics. */
async function plainEndpoints(
  req: ServerRequest,
  res: ServerResponse,
  options: ServeOptions,
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
