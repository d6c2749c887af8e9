// The gateway as a fetch handler: Yoga over the schema file and resolvers, with its plugins.
// main.ts puts it on a port; tests call `gateway.fetch` directly.
import { readFileSync } from "node:fs";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
// Renamed: it is a Yoga plugin factory, not a React hook (which the linter takes `use…` for).
import { useGraphQLSSE as graphqlSseProtocol } from "@graphql-yoga/plugin-graphql-sse";
import type { DocumentNode } from "graphql";
import { createSchema, createYoga, type YogaServerInstance } from "graphql-yoga";
import { Gauge } from "prom-client";
import { CatalogService } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { OrderService } from "../gen/bazaar/order/v1/order_pb.js";
import { corsOrigins } from "../platform/config.js";
import type { Logger } from "../platform/observability/logger.js";
import { type Backends, createBackends, type Transports } from "./clients.js";
import type { GatewayConfig } from "./config.js";
import { createContext, type GatewayContext } from "./context.js";
import { maskError } from "./errors.js";
import { GraphiQLPage } from "./graphiql.js";
import { paginationArgument } from "./limits.js";
import { StockFrames } from "./live/stock-frames.js";
import { type LiveFeeds, StockFeed } from "./live.js";
import { createErrorLog } from "./logging.js";
import { createGatewayMetrics, type GatewayMetrics } from "./observability.js";
import { badRequests } from "./plugins/bad-requests.js";
import { bodyLimit } from "./plugins/body-limit.js";
import { cors } from "./plugins/cors.js";
import { errorLog } from "./plugins/error-log.js";
import { jit } from "./plugins/jit.js";
import { limits } from "./plugins/limits.js";
import { metricsPlugin } from "./plugins/metrics.js";
import { operationLog } from "./plugins/operation-log.js";
import { requestIds } from "./plugins/request-id.js";
import { routes } from "./plugins/routes.js";
import { sseResume } from "./plugins/sse-resume.js";
import { tracing } from "./plugins/tracing.js";
import { type Shaped, validationShapes } from "./plugins/validation-shapes.js";
import type { ReadinessCheck } from "./readiness.js";
import { resolvers } from "./resolvers/index.js";

export const typeDefs = readFileSync(new URL("./schema.graphql", import.meta.url), "utf8");
export const graphqlEndpoint = "/graphql";

/** Yoga's own features the gateway turns off (bench/hop.ts's Yoga alone uses them too). */
export const yogaFeatures = {
  // GraphiQL is served by the routes plugin from a cached, compressed, offline page.
  graphiql: false,
  landingPage: false,
  // The body-limit plugin applies MAX_BODY_BYTES without Yoga's per-request counting stream.
  maxRequestBodySize: false,
  batching: false,
  // No file uploads in the schema: multipart requests have nothing to carry.
  multipart: false,
  // The cors plugin applies the services' rules instead of Yoga's allow-everything default.
  cors: false,
} as const;

export interface GatewayOptions {
  config: GatewayConfig;
  transports: Transports;
  logger: Logger;
  metrics?: GatewayMetrics;
  /** The services' states for /readyz: a status per service. */
  ready: ReadinessCheck;
  /**
   * Transports that carry server streams (WatchStock, WatchOrders). By default gRPC over one
   * h2c session per service, at the configured URLs: the unary Connect transport cannot.
   */
  streamTransports?: Pick<Transports, "catalog" | "order">;
}

export interface Gateway {
  yoga: YogaServerInstance<Record<string, unknown>, GatewayContext>;
  fetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  backends: Backends;
  metrics: GatewayMetrics;
  /** Undefined where introspection is off (production): GraphiQL cannot work there. */
  graphiql: GraphiQLPage | undefined;
  /** The shared upstream stock stream of every stockChanged subscriber. */
  live: LiveFeeds;
  /** Ends the live feeds (every subscription then ends). */
  close(): Promise<void>;
}

export function createGateway(options: GatewayOptions): Gateway {
  const { config, transports, logger, ready } = options;
  const metrics = options.metrics ?? createGatewayMetrics();
  const streams = options.streamTransports ?? {
    catalog: createGrpcTransport({ baseUrl: config.CATALOG_URL }),
    order: createGrpcTransport({ baseUrl: config.ORDER_URL }),
  };
  const backends = createBackends(transports);
  const ids = requestIds();
  const stock = new StockFeed(createClient(CatalogService, streams.catalog), logger, {
    tickMs: config.LIVE_TICK_MS,
    batchesPerSecond: config.LIVE_BATCHES_PER_SECOND,
  });
  // Stock events are executed without any subscriber's request: a context of their own.
  const frames = new StockFrames(() =>
    makeContext({ request: new Request("http://gateway.internal/graphql") } as never),
  );
  // For /metrics: what the stock feed serves (bench:live reads it once subscribers leave).
  if (!metrics.registry.getSingleMetric("gateway_stock_subscribers")) {
    new Gauge({
      name: "gateway_stock_subscribers",
      help: "stockChanged subscribers of this gateway's stock feed",
      registers: [metrics.registry],
      collect() {
        this.set(stock.subscribers);
      },
    });
  }
  const live: LiveFeeds = {
    stock,
    frames,
    order: createClient(OrderService, streams.order),
    closing: stock.closing,
  };
  const makeContext = createContext({ backends, config, logger, requestIdOf: ids.of, live });
  const graphiql = config.GRAPHQL_INTROSPECTION ? new GraphiQLPage(graphqlEndpoint) : undefined;
  const log = createErrorLog(logger);
  // Documents that passed validation by their shape, for the compiled execution to share.
  const shaped = new WeakMap<DocumentNode, Shaped>();

  const yoga = createYoga<Record<string, unknown>, GatewayContext>({
    schema: createSchema<Record<string, unknown> & GatewayContext>({ typeDefs, resolvers }),
    context: makeContext,
    plugins: [
      ids.plugin,
      cors(corsOrigins(config)),
      metricsPlugin(metrics, graphqlEndpoint),
      routes({
        endpoint: graphqlEndpoint,
        graphiql,
        metrics,
        ready,
      }),
      ...limits(config, metrics),
      // After every rule the limits add: a document's shape passes or not under all of them.
      validationShapes([paginationArgument], shaped),
      // Before badRequests, so that a malformed request is logged with the code it got.
      operationLog(logger, ids.of),
      badRequests(),
      errorLog(log),
      // Before tracing, so the operation's span wraps the compiled execution.
      // One compiled query per shape: documents differing only in literals share it.
      jit({ shaped }),
      tracing(),
      // Last, as Yoga places its own: it wraps whichever request parser the others chose.
      bodyLimit(config.MAX_BODY_BYTES),
      // graphql-sse's protocol at /graphql/stream; Yoga itself serves GraphQL over SSE on
      // /graphql (Accept: text/event-stream). Both run the same parse, validation and limits.
      graphqlSseProtocol(),
      // Events' resume cursors: `extensions.cursor` on both, the SSE `id:` on Yoga's.
      sseResume(),
      // stockChanged executed and written once per state, not per subscriber.
      frames.plugin(),
    ],
    maskedErrors: { maskError: (error, message) => maskError(error, message) },
    logging: log.yoga,
    graphqlEndpoint,
    ...yogaFeatures,
  });

  type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  return {
    yoga,
    fetch: (input, init) => Promise.resolve((yoga.fetch as Fetch)(input, init)),
    backends,
    metrics,
    graphiql,
    live,
    close: () => live.stock.close(),
  };
}
