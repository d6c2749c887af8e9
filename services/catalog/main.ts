// The catalog service's composition root: config → base → parts (store, search, demo data,
// the reservation sweeper and the search indexer) → serve. The event relay comes with the base.
import { CatalogService } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { tokenVersionsFromConfig } from "../../platform/auth/token-versions.js";
import { liveParts } from "../../platform/events/live.js";
import { type HostedService, openBase } from "../../platform/host.js";
import { defaultConnectionLimits } from "../../platform/http/connection-limits.js";
import type { Logger } from "../../platform/observability/logger.js";
import { isEntryPoint, runProcess } from "../../platform/runtime.js";
import type { Worker } from "../../platform/worker.js";
import { type CatalogConfig, loadCatalogConfig, migrationsFolder } from "./config.js";
import { stockSource, stockSubjects } from "./live.js";
import { orderOutcomesClient, orderServiceTransport } from "./order-outcomes.js";
import * as schema from "./schema.js";
import { OpenSearchCatalogIndex } from "./search/opensearch.js";
import { outboxWorker } from "./search/outbox.js";
import { type ProductSearch, postgresSearch, withFallback } from "./search/search.js";
import { seedIfEmpty } from "./seed.js";
import { catalogRoutes } from "./service.js";
import { CatalogStore } from "./store.js";
import { sweeperWorker } from "./sweeper.js";

export async function startCatalogService(
  config: CatalogConfig,
  options: { logger?: Logger } = {},
): Promise<HostedService<typeof schema>> {
  const base = await openBase(config, {
    name: "catalog",
    schema,
    migrationsFolder,
    logger: options.logger,
    tokenVersions: tokenVersionsFromConfig(config, config.PEER_TIMEOUT_MS),
  });
  const { logger } = base;
  const store = new CatalogStore(base.database.db);
  const openSearch = config.OPENSEARCH_URL
    ? await openSearchParts(config.OPENSEARCH_URL, config.OPENSEARCH_INDEX, store, logger)
    : undefined;
  if (config.SEED_DEMO_DATA) {
    const seeded = await seedIfEmpty(store).catch(base.abort);
    if (seeded > 0) logger.info(`seeded ${seeded} demo products into the empty catalog`);
  }
  const orderService = orderServiceTransport(config.ORDER_URL);
  const sweeper = sweeperWorker({
    reservations: store.reservations,
    outcomes: orderOutcomesClient(orderService.transport, {
      token: base.signer.serviceTokenSource(),
      timeoutMs: config.PEER_TIMEOUT_MS,
    }),
    options: {
      ttlSeconds: config.RESERVATION_TTL_SECONDS,
      // Ask again soon after a blip, no more than every few minutes in a long outage.
      minWaitSeconds: config.SWEEP_INTERVAL_SECONDS,
      maxWaitSeconds: Math.max(300, config.SWEEP_INTERVAL_SECONDS),
    },
    intervalMs: config.SWEEP_INTERVAL_SECONDS * 1000,
    logger,
    registry: base.metrics.registry,
  });
  const live = liveParts(config, base.database.db, stockSubjects, logger);
  return base.serve({
    services: [CatalogService],
    routes: catalogRoutes({
      store,
      reservationTtlSeconds: config.RESERVATION_TTL_SECONDS,
      live: { ...live, source: stockSource(live.tail) },
      ...(openSearch ? { search: openSearch.search } : {}),
    }),
    maxOpenStreams: defaultConnectionLimits.maxOpenStreams + config.LIVE_MAX_STREAMS,
    workers: [sweeper, live.tail, ...(openSearch ? [openSearch.worker] : [])],
    resources: [orderService, ...(openSearch ? [openSearch.index] : [])],
  });
}

/**
 * Search answered by OpenSearch (PostgreSQL when it fails) and the worker that keeps the index
 * in step. An unreachable OpenSearch at start only delays creating the index.
 */
async function openSearchParts(
  url: string,
  indexName: string,
  store: CatalogStore,
  logger: Logger,
): Promise<{ index: OpenSearchCatalogIndex; search: ProductSearch; worker: Worker }> {
  const index = await OpenSearchCatalogIndex.open(url, indexName);
  const prepare = async () => {
    if (await index.ensureIndex()) {
      await store.outbox.restart();
      logger.info({ index: index.index }, "created the search index; indexing every product");
    }
  };
  const ready = await prepare().then(
    () => true,
    (error: unknown) => {
      logger.warn({ err: error }, "OpenSearch is unreachable; will create the index later");
      return false;
    },
  );
  const search = withFallback(
    index.productSearch(store.products),
    postgresSearch(store.search),
    (error) => logger.warn({ err: error }, "OpenSearch search failed; answered from PostgreSQL"),
  );
  const worker = outboxWorker(store, index.indexer, logger, ready ? {} : { prepare });
  return { index, search, worker };
}

if (isEntryPoint(import.meta.url)) {
  await runProcess("catalog", async () => startCatalogService(loadCatalogConfig()));
}
