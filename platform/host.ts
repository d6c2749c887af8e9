// What every service's main.ts is made of: `openBase` (logger, its keys, metrics, the
// database with its migrations), then the service builds its parts over that base, then
// `base.serve(parts)` listens, starts the workers and owns the orderly stop.
import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { TokenSigner, TokenVerifier, type TokenVersionCheck } from "./auth/auth.js";
import { resolveKeys, type ServiceName } from "./auth/keys.js";
import { type BaseConfig, corsOrigins } from "./config.js";
import { type DatabaseHandle, openDatabase } from "./data/database.js";
import { eventWorkers } from "./events/workers.js";
import { trustedProxies } from "./http/client-address.js";
import { type RunningServer, serve } from "./http/server.js";
import { createLogger, type Logger } from "./observability/logger.js";
import { createMetrics, type RpcMetrics } from "./observability/metrics.js";
import { startTracing, type Tracing } from "./observability/tracing.js";
import type { Worker } from "./worker.js";

export interface BaseOptions<S extends Record<string, unknown>> {
  /** Short name: "account", "catalog", "order"; it also names the service's own key. */
  name: ServiceName;
  schema: S;
  migrationsFolder: string;
  /** A logger to use instead of the one the config describes (tests capture output). */
  logger?: Logger | undefined;
  /** How user tokens' versions are checked (revocation); none when not given. */
  tokenVersions?:
    | ((base: { signer: TokenSigner; database: DatabaseHandle<S> }) => TokenVersionCheck)
    | undefined;
}

export interface ServiceParts {
  /** The generated service descriptors: health names them, reflection serves their files. */
  services: readonly DescService[];
  routes: (router: ConnectRouter) => void;
  /** Started once the server listens; stopped after it drained, before the database closes. */
  workers?: readonly Worker[];
  /** Open streaming calls per process, over every kind (Watch streams have their own caps too). */
  maxOpenStreams?: number;
  /** Clients the parts opened (peers, a search index); closed after the workers stopped. */
  resources?: readonly { close(): Promise<void> }[];
}

export interface ServiceBase<S extends Record<string, unknown>> {
  logger: Logger;
  /** Checks every incoming token. */
  authority: TokenVerifier;
  /** Signs with this service's own key (its identity on internal calls). */
  signer: TokenSigner;
  metrics: RpcMetrics;
  database: DatabaseHandle<S>;
  /** Serves `parts` on the configured port; on failure closes the base and rethrows. */
  serve(parts: ServiceParts): Promise<HostedService<S>>;
  /** For a failure while building the parts: closes the database and rethrows `error`. */
  abort(error: unknown): Promise<never>;
}

export interface HostedService<S extends Record<string, unknown>> {
  server: RunningServer;
  database: DatabaseHandle<S>;
  authority: TokenVerifier;
  signer: TokenSigner;
  logger: Logger;
  metrics: RpcMetrics;
  stop(): Promise<void>;
}

export async function openBase<S extends Record<string, unknown>>(
  config: BaseConfig,
  options: BaseOptions<S>,
): Promise<ServiceBase<S>> {
  // Before the logger: with tracing on, its lines carry the trace id.
  const tracing = await startTracing(options.name);
  const logger =
    options.logger ??
    createLogger({ service: options.name, level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
  const { signing, keys } = await resolveKeys({
    service: options.name,
    privateKey: config.AUTH_PRIVATE_KEY,
    publicKeys: config.AUTH_PUBLIC_KEYS,
    production: config.NODE_ENV === "production",
    dir: config.AUTH_KEYS_DIR,
  });
  const signer = new TokenSigner(signing);
  const metrics = createMetrics(options.name);
  const database = await openDatabase({
    url: config.DATABASE_URL,
    schema: options.schema,
    migrationsFolder: options.migrationsFolder,
    poolMax: config.DATABASE_POOL_MAX,
  });
  const authority = new TokenVerifier(keys, {
    ...(options.tokenVersions ? { versions: options.tokenVersions({ signer, database }) } : {}),
  });
  const abort = async (error: unknown): Promise<never> => {
    await database.close();
    throw error;
  };
  const base = { logger, authority, signer, metrics, database };
  return {
    ...base,
    abort,
    serve: (parts) => serveParts(config, options.name, base, parts, tracing).catch(abort),
  };
}

async function serveParts<S extends Record<string, unknown>>(
  config: BaseConfig,
  name: ServiceName,
  base: Omit<HostedService<S>, "server" | "stop">,
  parts: ServiceParts,
  tracing: Tracing | undefined,
): Promise<HostedService<S>> {
  const { logger, database } = base;
  // The outbox relay and pruning run in every service (platform/events).
  const workers = [
    ...(parts.workers ?? []),
    ...eventWorkers({
      service: name,
      db: database.db,
      config,
      logger,
      registry: base.metrics.registry,
    }),
  ];
  const closeParts = async () => {
    await Promise.all(workers.map((worker) => worker.stop()));
    await Promise.all((parts.resources ?? []).map((resource) => resource.close()));
  };
  const server = await serve({
    routes: parts.routes,
    files: parts.services.map((service) => service.file),
    serviceNames: parts.services.map((service) => service.typeName),
    authority: base.authority,
    logger,
    metrics: base.metrics,
    ready: database.ping,
    corsOrigins: corsOrigins(config),
    trustedProxies: trustedProxies(config.TRUSTED_PROXIES),
    maxMessageBytes: config.MAX_MESSAGE_BYTES,
    host: config.HOST,
    port: config.PORT,
    ...(parts.maxOpenStreams ? { limits: { maxOpenStreams: parts.maxOpenStreams } } : {}),
  }).catch(async (error: unknown) => {
    await closeParts();
    throw error;
  });
  logger.info({ url: server.url }, `${name} service listening`);
  for (const worker of workers) worker.start();
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info(
        { drainMs: config.SHUTDOWN_DRAIN_MS },
        "shutting down: not ready any more, serving while the balancer notices, then draining in-flight calls",
      );
      await server.close(config.SHUTDOWN_GRACE_MS, config.SHUTDOWN_DRAIN_MS);
      await closeParts();
      await database.close();
      await tracing?.shutdown();
      logger.info("stopped");
      logger.flush();
    })();
    return stopping;
  };
  return { ...base, server, stop };
}
