// The gateway as a fetch handler: Yoga over the schema file and resolvers, with the limits,
// error masking, GraphiQL, probes, metrics and request ids. main.ts puts it on a port; tests
// call `gateway.fetch` directly.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { makeExecutableSchema } from "@graphql-tools/schema";
import {
  type DefinitionNode,
  type ExecutionResult,
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
} from "graphql";
import { createYoga, type Plugin, type YogaServerInstance } from "graphql-yoga";
import type { Logger } from "../platform/logger.js";
import { type Backends, createBackends, type Transports } from "./clients.js";
import type { GatewayConfig } from "./config.js";
import type { GatewayContext } from "./context.js";
import { isExpected, maskError } from "./errors.js";
import { GraphiQLPage, wantsGraphiQL } from "./graphiql.js";
import { costLimitRule, depthLimitRule } from "./limits.js";
import { createLoaders } from "./loaders.js";
import { createGatewayMetrics, type GatewayMetrics } from "./observability.js";
import { resolvers } from "./resolvers/index.js";

export const typeDefs = readFileSync(new URL("./schema.graphql", import.meta.url), "utf8");

export const maxTake = 100;
export const graphqlEndpoint = "/graphql";

export type ReadinessCheck = () => Promise<Record<string, string>>;

export interface GatewayOptions {
  config: GatewayConfig;
  transports: Transports;
  logger: Logger;
  metrics?: GatewayMetrics;
  /** Whether every service is ready; resolves to a status per service, rejects if one is not. */
  ready: ReadinessCheck;
}

export interface Gateway {
  yoga: YogaServerInstance<Record<string, unknown>, GatewayContext>;
  fetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  backends: Backends;
  metrics: GatewayMetrics;
  graphiql: GraphiQLPage;
}

const requestIdPattern = /^[\w.:@/+=-]{1,128}$/;

/** Readiness from each service's own GET /readyz. */
export function httpReadiness(urls: Record<string, string>, timeoutMs = 2_000): ReadinessCheck {
  return async () => {
    const entries = await Promise.all(
      Object.entries(urls).map(async ([name, url]) => {
        try {
          const res = await fetch(new URL("/readyz", url), {
            signal: AbortSignal.timeout(timeoutMs),
          });
          await res.body?.cancel();
          return [name, res.ok ? "ready" : `not ready (HTTP ${res.status})`] as const;
        } catch {
          return [name, "unreachable"] as const;
        }
      }),
    );
    return Object.fromEntries(entries);
  };
}

export function createGateway(options: GatewayOptions): Gateway {
  const { config, logger } = options;
  const metrics = options.metrics ?? createGatewayMetrics();
  const backends = createBackends(options.transports);
  const graphiql = new GraphiQLPage(graphqlEndpoint);
  const schema = makeExecutableSchema<GatewayContext>({ typeDefs, resolvers });
  // Set per request in onRequest, read by the context factory and onResponse.
  // Errors already logged with their request id, so Yoga's own log line is not repeated.
  const logged = new WeakSet<object>();
  const requestIds = new WeakMap<Request, { id: string; started: number }>();

  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
    });

  const routes: Plugin = {
    async onRequest({ request, url, endResponse }) {
      const given = request.headers.get("x-request-id");
      const id = given && requestIdPattern.test(given) ? given : randomUUID();
      requestIds.set(request, { id, started: performance.now() });
      const path = url.pathname;
      if (path === "/" && (request.method === "GET" || request.method === "HEAD")) {
        endResponse(new Response(null, { status: 302, headers: { location: graphqlEndpoint } }));
      } else if (path === "/healthz") {
        endResponse(json(200, { status: "alive" }));
      } else if (path === "/readyz") {
        const services = await options.ready();
        const ready = Object.values(services).every((s) => s === "ready");
        endResponse(json(ready ? 200 : 503, { status: ready ? "ready" : "not ready", services }));
      } else if (path === "/metrics") {
        endResponse(
          new Response(await metrics.registry.metrics(), {
            headers: { "content-type": metrics.registry.contentType, "cache-control": "no-store" },
          }),
        );
      } else if (path === graphqlEndpoint && wantsGraphiQL(request)) {
        endResponse(await graphiql.response(request));
      }
    },
    onResponse({ request, response }) {
      const seen = requestIds.get(request);
      if (!seen) return;
      response.headers.set("x-request-id", seen.id);
      const path = new URL(request.url).pathname;
      const route = ["/", "/healthz", "/readyz", "/metrics", graphqlEndpoint].includes(path)
        ? path
        : "other";
      metrics.requests.inc({ route, method: request.method, status: String(response.status) });
      metrics.seconds.observe({ route }, (performance.now() - seen.started) / 1000);
    },
  };

  // A query that does not parse or validate (unknown field, too deep, too costly) is a
  // malformed request: 400 whatever the Accept header. Yoga marks such errors as the
  // GraphQL-over-HTTP spec's, which legacy application/json clients (curl, plain fetch) would
  // get with a 200; the spec's own status stands for them too.
  const limits: Plugin = {
    onValidate({ addValidationRule }) {
      addValidationRule(depthLimitRule(config.GRAPHQL_MAX_DEPTH));
      addValidationRule(costLimitRule(config.GRAPHQL_MAX_COST, maxTake));
      if (!config.GRAPHQL_INTROSPECTION) addValidationRule(NoSchemaIntrospectionCustomRule);
    },
    onResultProcess({ result }) {
      for (const one of (Array.isArray(result) ? result : [result]) as ExecutionResult[]) {
        for (const error of one?.errors ?? []) {
          const http = error.extensions?.http as { spec?: boolean; status?: number } | undefined;
          if (http?.spec && http.status === 400) delete http.spec;
        }
      }
    },
  };

  // Runs before Yoga's masking, so it sees the raw causes: the unexpected ones are logged here
  // with the request id, and only here. A result without data is a request error (variables
  // of the wrong type): graphql-js reports it at execution, but it is the caller's mistake,
  // so it becomes a 400 like any other malformed request.
  const executionErrors: Plugin<GatewayContext> = {
    onExecute({ args }) {
      const context = args.contextValue as GatewayContext;
      return {
        onExecuteDone({ result, setResult }) {
          if (!("errors" in result) || !result.errors) return;
          for (const error of result.errors) {
            if (isExpected(error)) continue;
            logged.add(error);
            context.log.error(
              { err: error.originalError ?? error, path: error.path, requestId: context.requestId },
              "unexpected error in a resolver",
            );
          }
          if (result.data === undefined) {
            setResult({
              ...result,
              errors: result.errors.map((error) =>
                isExpected(error) && error.extensions.code === undefined
                  ? new GraphQLError(error.message, {
                      nodes: error.nodes,
                      source: error.source,
                      positions: error.positions,
                      extensions: {
                        ...error.extensions,
                        code: "BAD_USER_INPUT",
                        http: { status: 400 },
                      },
                    })
                  : error,
              ),
            });
          }
        },
      };
    },
  };

  const counting: Plugin = {
    onExecute({ args }) {
      const operation = args.document.definitions.find(
        (d: DefinitionNode) => d.kind === "OperationDefinition",
      );
      metrics.operations.inc({ type: operation?.operation ?? "unknown" });
    },
    onResultProcess({ result }) {
      const results = (Array.isArray(result) ? result : [result]) as ExecutionResult[];
      for (const one of results) {
        for (const error of one?.errors ?? []) {
          const code = error.extensions?.code;
          metrics.errors.inc({
            code: typeof code === "string" ? code : "GRAPHQL_VALIDATION_FAILED",
          });
        }
      }
    },
  };

  const yoga = createYoga<Record<string, unknown>, GatewayContext>({
    schema,
    graphqlEndpoint,
    // GraphiQL is served by the routes plugin from a cached, compressed, offline page.
    graphiql: false,
    landingPage: false,
    maxRequestBodySize: config.MAX_BODY_BYTES,
    batching: false,
    cors: false,
    // Yoga logs every error it masks. Expected ones (a Connect NOT_FOUND…) are not worth more
    // than debug; the unexpected ones from execution were already logged by errorLog with
    // their request id; anything else (a failing plugin or context) is logged here.
    logging: {
      debug: (...args: unknown[]) => logger.debug({ yoga: args }, "yoga"),
      info: (...args: unknown[]) => logger.debug({ yoga: args }, "yoga"),
      warn: (...args: unknown[]) => logger.warn({ yoga: args }, "yoga"),
      error: (...args: unknown[]) => {
        for (const arg of args) {
          if (logged.has(arg as object)) continue;
          if (isExpected(arg)) logger.debug({ err: arg }, "request failed");
          else logger.error({ err: arg }, "unexpected error");
        }
      },
    },
    maskedErrors: { maskError: (error, message) => maskError(error, message) },
    plugins: [routes, limits, executionErrors, counting],
    context: ({ request, ...server }): GatewayContext => {
      const requestId = requestIds.get(request)?.id ?? randomUUID();
      const authorization = request.headers.get("authorization") ?? undefined;
      const headers: Record<string, string> = { "x-request-id": requestId };
      if (authorization !== undefined) headers.authorization = authorization;
      // The client's address, for the account service's per-client limits (it believes this
      // only from a peer in its TRUSTED_PROXIES).
      const peer = (server.req as { socket?: { remoteAddress?: string } } | undefined)?.socket
        ?.remoteAddress;
      if (peer) headers["x-forwarded-for"] = peer;
      const call = { headers, timeoutMs: config.BACKEND_TIMEOUT_MS };
      return {
        backends,
        loaders: createLoaders(backends, call),
        call,
        authorization,
        requestId,
        log: logger,
        maxTake,
      };
    },
  });

  return {
    yoga,
    fetch: (input, init) =>
      Promise.resolve(
        (yoga.fetch as (i: string | URL | Request, init?: RequestInit) => Promise<Response>)(
          input,
          init,
        ),
      ),
    backends,
    metrics,
    graphiql,
  };
}
