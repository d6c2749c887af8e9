// The OpenTelemetry SDK of a process that traces: loaded by tracing.ts through a dynamic import
// only when tracing is on, so a process without OTEL_EXPORTER_OTLP_ENDPOINT never loads it.
//
// Official instrumentations: `@opentelemetry/instrumentation-http` for HTTP/1.1 servers (every
// service's Connect port and the gateway). None exists for postgres.js (the pg one patches
// `pg`, a different client), so tracing-sql.ts keeps its own statement spans; none for Connect
// either, hence the interceptors in tracing.ts; and HTTP/2 (gRPC over h2c) has none at all.
import { createRequire } from "node:module";
import { type Context, context, propagation, type Tracer, trace } from "@opentelemetry/api";
import { getRPCMetadata, RPCType, W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { NodeSDK } from "@opentelemetry/sdk-node";
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-node";

export interface RunningSdk {
  tracer: Tracer;
  /**
   * When the active span is the HTTP instrumentation's server span, names its route (the span
   * is then "POST <route>") and answers true: the caller's span belongs under it.
   */
  claimHttpSpan(route: string, active?: Context): boolean;
  shutdown(): Promise<void>;
}

// Polled by Prometheus and health checks: a trace each would bury the ones people look for.
const untracedPaths = /^\/(healthz|readyz|metrics)(\?|$)/;

export function startSdk(service: string, exporter?: SpanExporter): RunningSdk {
  const http = new HttpInstrumentation({
    // Outgoing calls are left to the Connect client interceptor. Each Connect call over
    // HTTP/1.1 is exactly one HTTP request, so an HTTP client span would repeat the Connect
    // client span (same start, same end, one level deeper) and write `traceparent` a second
    // time over the one the interceptor wrote; gRPC over h2c would get none anyway. Incoming
    // requests keep their HTTP server span: it starts before Connect reads the body and ends
    // when the response is flushed, and covers what never reaches Connect.
    disableOutgoingRequestInstrumentation: true,
    ignoreIncomingRequestHook: (request) => untracedPaths.test(request.url ?? ""),
  });
  const sdk = new NodeSDK({
    serviceName: service,
    spanProcessors: [
      exporter
        ? new SimpleSpanProcessor(exporter)
        : new BatchSpanProcessor(new OTLPTraceExporter()),
    ],
    textMapPropagator: new W3CTraceContextPropagator(),
    instrumentations: [http],
    // Traces only: metrics stay on each process's /metrics (Prometheus scrapes it) and logs on
    // stdout. Left unset, the SDK would also push both over OTLP to an endpoint that may not
    // take them (Jaeger takes traces only).
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  // The instrumentation patches `http.Server.prototype.emit` when `node:http` is next loaded
  // through `require` (require-in-the-middle). Our code and connect-node are ES modules whose
  // `import` of a builtin never goes through `require`, and no import-in-the-middle loader is
  // registered (that needs `--import` or `module.register` before the first import), so load it
  // once through `require` here: the prototype it patches is the one every HTTP server in the
  // process shares, whichever way its module imported `node:http`. (Patching `http.request`
  // for outgoing spans would also need `module.syncBuiltinESMExports()` for ESM named and
  // namespace imports to see it; outgoing is off, see above.)
  createRequire(import.meta.url)("node:http");
  return {
    tracer: trace.getTracer("bazaar"),
    claimHttpSpan(route, active = context.active()) {
      const metadata = getRPCMetadata(active);
      // Only when that span is still the active one: inside a client span made under it (an
      // in-memory transport in tests), the call belongs to that client span instead.
      if (metadata?.type !== RPCType.HTTP || metadata.span !== trace.getSpan(active)) {
        return false;
      }
      metadata.route = route;
      return true;
    },
    shutdown: async () => {
      http.disable();
      await sdk.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
