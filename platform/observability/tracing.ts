// OpenTelemetry tracing for every process: on when OTEL_EXPORTER_OTLP_ENDPOINT is set (spans
// go there over OTLP/HTTP), off otherwise. Off, the SDK is never loaded (tracing-sdk.ts comes
// in by a dynamic import only when on) and every hook here costs one test of `tracer`: no
// span, no context propagation, no header written. On, tracing-sdk.ts starts the SDK with the
// official HTTP instrumentation (the server span of every HTTP/1.1 request); this file adds the
// spans no official instrumentation makes: Connect calls, server and client, following the RPC
// semantic conventions, with W3C trace context in the call headers (`traceparent`). The
// gateway's plugin (GraphQL operations) and tracing-sql.ts (statements) add theirs.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
// Types only: erased at run time, so this file never loads the SDK itself.
import type { SpanExporter } from "@opentelemetry/sdk-trace-node";
import type { RunningSdk } from "./tracing-sdk.js";

let tracer: Tracer | undefined;
let sdk: RunningSdk | undefined;

/** Whether this process records spans: the one check every hook makes first. */
export function tracingOn(): boolean {
  return tracer !== undefined;
}

/** The tracer, when tracing is on. */
export function activeTracer(): Tracer | undefined {
  return tracer;
}

export interface Tracing {
  /** Sends the spans still buffered; call on shutdown. */
  shutdown(): Promise<void>;
}

/**
 * Turns tracing on for this process, once: with `exporter` (tests hand in an in-memory one,
 * exported span by span) or over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set (batched;
 * the exporter itself reads the OTEL_EXPORTER_OTLP_* variables). Returns undefined when
 * tracing stays off or was already started by someone else (who then owns its shutdown).
 * Call it first thing, before the logger is made (its lines then carry the trace id).
 */
export async function startTracing(
  service: string,
  options: { exporter?: SpanExporter; env?: NodeJS.ProcessEnv } = {},
): Promise<Tracing | undefined> {
  const endpoint = (options.env ?? process.env).OTEL_EXPORTER_OTLP_ENDPOINT;
  if (tracer || (!options.exporter && !endpoint)) return undefined;
  const { startSdk } = await import("./tracing-sdk.js");
  if (tracer) return undefined; // another caller got there during the import
  const running = startSdk(service, options.exporter);
  sdk = running;
  tracer = running.tracer;
  return {
    shutdown: async () => {
      tracer = undefined;
      sdk = undefined;
      await running.shutdown();
    },
  };
}

/**
 * The context a server-side span should start in. Inside the HTTP instrumentation's server
 * span (HTTP/1.1), that span's context, whose `http.route` becomes `route` (so it is named
 * "POST /bazaar.order.v1.OrderService/CreateOrder"); that span already read the caller's
 * `traceparent`. Otherwise (gRPC over h2c, which no official instrumentation covers, or an
 * in-memory transport in tests), the trace context the caller sent in `headers`.
 */
export function serverParent(headers: Headers, route: string): Context {
  if (sdk?.claimHttpSpan(route)) return context.active();
  return extractContext(headers);
}

/** The trace and span ids for a log line (a pino mixin): empty outside a span. */
export function traceFields(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { traceId, spanId };
}

const headerGetter = {
  keys: (carrier: Headers) => [...carrier.keys()],
  get: (carrier: Headers, key: string) => carrier.get(key) ?? undefined,
};
const headerSetter = {
  set: (carrier: Headers, key: string, value: string) => carrier.set(key, value),
};

/** The trace context a caller sent in `headers`, or none. */
export function extractContext(headers: Headers): Context {
  return propagation.extract(ROOT_CONTEXT, headers, headerGetter);
}

/**
 * Runs `work` inside a new span (active while it runs, so what it starts is its child), ends
 * the span when `work` settles; `settle` names the outcome on the span from the result or error.
 */
export async function inSpan<T>(
  name: string,
  options: { kind: SpanKind; attributes: Attributes; parent: Context },
  work: () => Promise<T>,
  settle: (span: Span, outcome: { result?: T; error?: unknown }) => void,
): Promise<T> {
  const active = tracer;
  if (!active) return work();
  const span = active.startSpan(name, options, options.parent);
  try {
    const result = await context.with(trace.setSpan(options.parent, span), work);
    settle(span, { result });
    return result;
  } catch (error) {
    settle(span, { error });
    throw error;
  } finally {
    span.end();
  }
}

// Codes that mean the server failed, not the caller (the gRPC conventions' list).
const serverFaults = new Set([
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Unimplemented,
  Code.Internal,
  Code.Unavailable,
  Code.DataLoss,
]);

interface RpcRequest {
  service: { typeName: string };
  method: { name: string };
  header: Headers;
}

function rpcSpan<T>(kind: SpanKind, req: RpcRequest, parent: Context, next: () => Promise<T>) {
  // gRPC and Connect share one port; the content type tells which one this call speaks.
  const grpc = /^application\/grpc(?!-web)/.test(req.header.get("content-type") ?? "");
  const attributes: Attributes = {
    "rpc.system": grpc ? "grpc" : "connect_rpc",
    "rpc.service": req.service.typeName,
    "rpc.method": req.method.name,
  };
  return inSpan(
    `${req.service.typeName}/${req.method.name}`,
    { kind, attributes, parent },
    next,
    (span, { error }) => {
      const code = error === undefined ? undefined : ConnectError.from(error).code;
      if (grpc) span.setAttribute("rpc.grpc.status_code", code ?? 0);
      else if (code !== undefined) span.setAttribute("rpc.connect_rpc.error_code", codeName(code));
      if (code === undefined) return;
      const fault = kind === SpanKind.CLIENT || serverFaults.has(code);
      if (fault) span.setStatus({ code: SpanStatusCode.ERROR, message: codeName(code) });
    },
  );
}

/** Connect's name of a code: "unavailable", "deadline_exceeded". */
function codeName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

/**
 * The server span of every RPC: child of the HTTP server span around it, or of the caller's
 * span when only the call's `traceparent` says where it belongs, else a new trace's root. First in the platform's list, so the log line and
 * everything the handler does happen inside it.
 */
export function tracingServerInterceptor(): Interceptor {
  return (next) => (req) => {
    if (!tracer) return next(req);
    const parent = serverParent(req.header, `/${req.service.typeName}/${req.method.name}`);
    return rpcSpan(SpanKind.SERVER, req, parent, () => next(req));
  };
}

/** The client span of every outgoing call, its context written into the call's headers. */
export function tracingClientInterceptor(): Interceptor {
  return (next) => (req) => {
    if (!tracer) return next(req);
    return rpcSpan(SpanKind.CLIENT, req, context.active(), () => {
      propagation.inject(context.active(), req.header, headerSetter);
      return next(req);
    });
  };
}
