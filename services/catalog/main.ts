// The catalog service's composition root: config → database → search → routes → serve, with
// the reservation sweeper and the search outbox worker stopped before the database closes.
import { file_bazaar_catalog_v1_catalog } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { type HostedService, hostService } from "../../platform/host.js";
import type { Logger } from "../../platform/logger.js";
import { isEntryPoint, runProcess } from "../../platform/runtime.js";
import type { BackgroundTask } from "./background.js";
import { type CatalogConfig, loadCatalogConfig } from "./config.js";
import * as schema from "./schema.js";
import { OpenSearchCatalogIndex } from "./search/opensearch.js";
import { startOutboxWorker } from "./search/outbox.js";
import { type ProductSearch, postgresSearch, withFallback } from "./search/search.js";
import { seedIfEmpty } from "./seed.js";
import { catalogRoutes } from "./service.js";
import { CatalogStore, migrationsFolder } from "./store.js";
import { startSweeper } from "./sweeper.js";

export async function startCatalogService(
  config: CatalogConfig,
  options: { logger?: Logger } = {},
): Promise<HostedService<typeof schema>> {
  const tasks: BackgroundTask[] = [];
  let openSearch: OpenSearchCatalogIndex | undefined;
  return hostService({
    name: "catalog",
    config,
    schema,
    migrationsFolder,
    files: [file_bazaar_catalog_v1_catalog],
    serviceNames: ["bazaar.catalog.v1.CatalogService"],
    ...(options.logger ? { logger: options.logger } : {}),
    routes: async ({ database, logger }) => {
      const store = new CatalogStore(database.db, { outbox: config.OPENSEARCH_URL !== undefined });
      let search: ProductSearch | undefined;
      if (config.OPENSEARCH_URL) {
        const index = new OpenSearchCatalogIndex(config.OPENSEARCH_URL, config.OPENSEARCH_INDEX);
        openSearch = index;
        const prepare = async () => {
          if (await index.ensureIndex()) {
            const queued = await store.outbox.enqueueAllProducts();
            logger.info({ index: index.index, queued }, "created the search index");
          }
        };
        let ready = false;
        try {
          await prepare();
          ready = true;
        } catch (error) {
          logger.warn({ err: error }, "OpenSearch is unreachable; will create the index later");
        }
        search = withFallback(
          index.productSearch(store.products),
          postgresSearch(store.products),
          (error) =>
            logger.warn({ err: error }, "OpenSearch search failed; answered from PostgreSQL"),
        );
        tasks.push(startOutboxWorker(store, index.indexer, logger, ready ? {} : { prepare }));
      }
      if (config.SEED_DEMO_DATA) {
        const seeded = await seedIfEmpty(store);
        if (seeded > 0) logger.info(`seeded ${seeded} demo products into the empty catalog`);
      }
      tasks.push(startSweeper(store.reservations, config.SWEEP_INTERVAL_SECONDS * 1000, logger));
      return catalogRoutes({
        store,
        reservationTtlSeconds: config.RESERVATION_TTL_SECONDS,
        ...(search ? { search } : {}),
      });
    },
    beforeClose: async () => {
      await Promise.all(tasks.map((task) => task.stop()));
      await openSearch?.close();
    },
  });
}

if (isEntryPoint(import.meta.url)) {
  await runProcess("catalog", async () => startCatalogService(loadCatalogConfig()));
}
