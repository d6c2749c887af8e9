// One port per service for every protocol: gRPC over cleartext HTTP/2 (prior knowledge) and
// Connect / gRPC-Web over HTTP/1.1, plus /healthz, /readyz and /metrics.
//
// Node's http2 server without TLS speaks only HTTP/2, so a plain `net` server reads the first
// bytes of each connection: the HTTP/2 client preface sends the socket to the http2 server,
// anything else to the http1 server. Unlike "h2c upgrade", this is what gRPC clients with prior
// knowledge speak. `npm run bench:one-port` measures the hand-off against a plain node:http
// server with the same handler and interceptors: nothing measurable, so every service gets all
// protocols on one port.
import { setMaxListeners } from "node:events";
import http from "node:http";
import http2 from "node:http2";
import net, { BlockList } from "node:net";
import type { DescFile } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  file_grpc_health_v1_health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";
import { authInterceptor, type TokenAuthority } from "../auth/auth.js";
import type { Logger } from "../observability/logger.js";
import type { RpcMetrics } from "../observability/metrics.js";
import { tracingServerInterceptor } from "../observability/tracing.js";
import { connectionKey, kConnection, kDraining } from "./call-context.js";
import { clientContextValues } from "./client-address.js";
import { decodedInterceptor, decodingFailureGate } from "./client-input.js";
import {
  type ConnectionLimits,
  closeWhenIdle,
  defaultConnectionLimits,
  openStreamsInterceptor,
} from "./connection-limits.js";
import { ConnectionTracker } from "./connection-tracker.js";
import { applyCors, originMatcher } from "./cors.js";
import { plainEndpoints } from "./endpoints.js";
import { HealthState, healthRoutes } from "./health.js";
import { observeInterceptor, requestIdInterceptor } from "./interceptors.js";
import { reflectionRoutes } from "./reflection.js";
import { closeWhenBodyUnread } from "./unread-body.js";

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
  /** Per-process caps on connections and streams; the defaults suit production. */
  limits?: Partial<ConnectionLimits>;
}

export interface RunningServer {
  port: number;
  /** http://host:port, for clients and tests. */
  url: string;
  health: HealthState;
  /**
   * Readiness first, then drain: /readyz and gRPC health say NOT_SERVING at once, calls are
   * still served for `drainMs` (the balancer's time to notice, answers telling clients to
   * reconnect), then the port stops accepting, in-flight calls get up to `graceMs`, and every
   * socket closes.
   */
  close(graceMs?: number, drainMs?: number): Promise<void>;
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

export async function serve(options: ServeOptions): Promise<RunningServer> {
  const health = new HealthState();
  const limits = { ...defaultConnectionLimits, ...options.limits };
  const shutdown = new AbortController();
  // Aborted when close() begins, before the grace period: streams end at once (their clients
  // resume elsewhere from their cursor) instead of holding the drain until it runs out.
  const draining = new AbortController();
  // Every call in flight listens on these signals: many at once is normal, not a leak.
  setMaxListeners(0, shutdown.signal);
  setMaxListeners(0, draining.signal);
  const clientValues = clientContextValues(options.trustedProxies ?? new BlockList());
  const rpc = connectNodeAdapter({
    routes: (router) => {
      options.routes(router);
      healthRoutes(health)(router);
      reflectionRoutes([...options.files, file_grpc_health_v1_health])(router);
    },
    requestGate: decodingFailureGate(options.metrics),
    interceptors: [
      decodedInterceptor(),
      openStreamsInterceptor(limits.maxOpenStreams),
      tracingServerInterceptor(),
      requestIdInterceptor(),
      observeInterceptor(options.logger, options.metrics),
      authInterceptor(options.authority),
    ],
    readMaxBytes: options.maxMessageBytes,
    jsonOptions: strictUtf8Json,
    shutdownSignal: shutdown.signal,
    contextValues: (req) => {
      const values = clientValues(req);
      values.set(kConnection, connectionKey(req as { socket?: object | null }));
      values.set(kDraining, draining.signal);
      return values;
    },
    fallback: (req, res) => void plainEndpoints(req, res as ServerResponse, options, health),
  });
  const allowOrigin = originMatcher(options.corsOrigins);
  const tracker = new ConnectionTracker();

  const handle = (req: ServerRequest, res: ServerResponse) => {
    tracker.requestStarted(req, res);
    if (req.httpVersionMajor < 2) {
      closeWhenBodyUnread(req as http.IncomingMessage, res as http.ServerResponse);
    }
    if (applyCors(req, res, allowOrigin)) return;
    try {
      rpc(req, res);
    } catch (error) {
      // connect-node builds the call's URL from the Host header before anything else, and
      // throws when there is none (HTTP/1.0) or it does not parse: the request's fault.
      options.logger.debug({ err: error }, "request without a usable authority");
      refuseMalformed(req, res);
    }
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
  const http2Server = http2.createServer(
    { settings: { maxConcurrentStreams: limits.maxStreamsPerConnection } },
    handle,
  );
  http2Server.setTimeout(idleTimeoutMs);
  http2Server.on("session", (session) => {
    tracker.sessionOpened(session);
    closeWhenIdle(session, limits);
  });

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
  // Past this, new connections are closed as they arrive: memory and file descriptors stay
  // bounded whatever the clients do.
  listener.maxConnections = limits.maxConnections;

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
    close: (graceMs = 10_000, drainMs = 0) => {
      closing ??= (async () => {
        health.shutdown();
        if (drainMs > 0) {
          tracker.leave();
          await new Promise((resolve) => setTimeout(resolve, drainMs));
        }
        // Streams end now (UNAVAILABLE: the client reconnects elsewhere); unary calls finish.
        draining.abort();
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

/** A 400 in the Connect error format, for a request connect-node cannot take. */
function refuseMalformed(req: ServerRequest, res: ServerResponse): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const reason =
    req.headers.host === undefined && req.headers[":authority"] === undefined
      ? "the request has no Host header"
      : "the request's Host header is not a valid authority";
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (req.httpVersionMajor < 2) headers.connection = "close";
  res.writeHead(400, headers);
  res.end(JSON.stringify({ code: "invalid_argument", message: reason }));
}
