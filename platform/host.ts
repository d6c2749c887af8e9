// The composition every service shares: logger, metrics, token authority, database with its
// migrations, the server on its port, and an orderly stop. A service's main.ts adds its routes.
import type { DescFile } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { resolveAuthSecret, TokenAuthority } from "./auth.js";
import { type BaseConfig, corsOrigins } from "./config.js";
import { type DatabaseHandle, openDatabase } from "./database.js";
import { createLogger, type Logger } from "./logger.js";
import { createMetrics, type RpcMetrics } from "./metrics.js";
import { type RunningServer, serve } from "./server.js";

export interface HostedService<S extends Record<string, unknown>> {
  server: RunningServer;
  database: DatabaseHandle<S>;
  authority: TokenAuthority;
  logger: Logger;
  metrics: RpcMetrics;
  stop(): Promise<void>;
}

export interface HostContext<S extends Record<string, unknown>> {
  database: DatabaseHandle<S>;
  authority: TokenAuthority;
  logger: Logger;
}

export interface HostOptions<S extends Record<string, unknown>> {
  /** Short name: "account", "catalog", "order". */
  name: string;
  config: BaseConfig & { AUTH_SECRET_FILE: string };
  schema: S;
  migrationsFolder: string;
  files: readonly DescFile[];
  serviceNames: readonly string[];
  /** Builds the routes once the database is open; may do start-up work such as seeding. */
  routes: (context: HostContext<S>) => Promise<(router: ConnectRouter) => void>;
  /** Called on stop after the server drained, before the database closes (background workers). */
  beforeClose?: () => Promise<void>;
  logger?: Logger;
}

export async function hostService<S extends Record<string, unknown>>(
  options: HostOptions<S>,
): Promise<HostedService<S>> {
  const { config } = options;
  const logger =
    options.logger ??
    createLogger({ service: options.name, level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
  const secret = await resolveAuthSecret({
    secret: config.AUTH_SECRET,
    production: config.NODE_ENV === "production",
    file: config.AUTH_SECRET_FILE,
  });
  const authority = new TokenAuthority(secret);
  const metrics = createMetrics(options.name);
  const database = await openDatabase({
    url: config.DATABASE_URL,
    schema: options.schema,
    migrationsFolder: options.migrationsFolder,
    poolMax: config.DATABASE_POOL_MAX,
  });
  try {
    const routes = await options.routes({ database, authority, logger });
    const server = await serve({
      routes,
      files: options.files,
      serviceNames: options.serviceNames,
      authority,
      logger,
      metrics,
      ready: database.ping,
      corsOrigins: corsOrigins(config),
      maxMessageBytes: config.MAX_MESSAGE_BYTES,
      host: config.HOST,
      port: config.PORT,
    });
    logger.info({ url: server.url }, `${options.name} service listening`);
    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        logger.info("shutting down: draining in-flight calls");
        await server.close(config.SHUTDOWN_GRACE_MS);
        await options.beforeClose?.();
        await database.close();
        logger.info("stopped");
        logger.flush();
      })();
      return stopping;
    };
    return { server, database, authority, logger, metrics, stop };
  } catch (error) {
    await options.beforeClose?.();
    await database.close();
    throw error;
  }
}
