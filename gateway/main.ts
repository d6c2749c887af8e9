// The gateway's composition root: config → transports → Yoga → HTTP server → stop.
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Interceptor } from "@connectrpc/connect";
import { createLogger, type Logger } from "../platform/observability/logger.js";
import { startTracing } from "../platform/observability/tracing.js";
import { isEntryPoint, runProcess } from "../platform/runtime.js";
import { backendUrls, createTransports, type Transports } from "./clients.js";
import { type GatewayConfig, loadGatewayConfig } from "./config.js";
import { backendMetricsInterceptor, createGatewayMetrics } from "./observability.js";
import { originForm } from "./origin-form.js";
import { httpReadiness, type ReadinessCheck } from "./readiness.js";
import { createGateway, type Gateway } from "./server.js";

export interface RunningGateway {
  url: string;
  gateway: Gateway;
  logger: Logger;
  stop(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Transports to use instead of the ones made from the config (tests). */
  transports?: Transports;
  /** Extra client interceptors on the transports made from the config (tests count RPCs). */
  interceptors?: Interceptor[];
  ready?: ReadinessCheck;
}

export async function startGateway(
  config: GatewayConfig,
  options: StartOptions = {},
): Promise<RunningGateway> {
  // Before the logger: with tracing on, its lines carry the trace id.
  const tracing = await startTracing("gateway");
  const logger =
    options.logger ??
    createLogger({ service: "gateway", level: config.LOG_LEVEL, pretty: config.LOG_PRETTY });
  const metrics = createGatewayMetrics();
  const made = options.transports
    ? undefined
    : createTransports(config, [
        backendMetricsInterceptor(metrics),
        ...(options.interceptors ?? []),
      ]);
  const transports = options.transports ?? (made as { transports: Transports }).transports;
  const gateway = createGateway({
    config,
    transports,
    logger,
    metrics,
    ready: options.ready ?? httpReadiness(backendUrls(config)),
  });
  // Render and compress GraphiQL before the first visitor asks, but after start-up: under
  // `npm start` every process is starting at once on the same cores.
  setTimeout(() => void gateway.graphiql?.warm().catch(() => {}), 3_000).unref();

  const server = http.createServer({ keepAliveTimeout: 5_000 }, originForm(gateway.yoga));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.PORT, config.HOST, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const shownHost = host === "[::]" || host === "0.0.0.0" ? "localhost" : host;
  const url = `http://${shownHost}:${address.port}`;
  logger.info(
    {
      url,
      graphiql: `${url}/graphql`,
      backends: backendUrls(config),
      protocol: config.BACKEND_PROTOCOL,
    },
    "gateway listening",
  );

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info("shutting down: finishing in-flight requests");
      // Subscriptions never finish by themselves: end them first (clients reconnect elsewhere).
      await gateway.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = new Promise<void>((resolve) =>
        setTimeout(resolve, config.SHUTDOWN_GRACE_MS).unref(),
      );
      await Promise.race([closed, grace]);
      server.closeAllConnections();
      made?.close();
      await gateway.yoga.dispose();
      await tracing?.shutdown();
      logger.info("stopped");
      logger.flush();
    })();
    return stopping;
  };
  return { url, gateway, logger, stop };
}

if (isEntryPoint(import.meta.url)) {
  await runProcess("gateway", async () => startGateway(loadGatewayConfig()));
}
