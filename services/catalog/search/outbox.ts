// The search indexer: follows the catalog's event outbox and pushes changed products to the
// search index, so an unreachable OpenSearch delays search freshness but loses nothing.
import type { Logger } from "../../../platform/observability/logger.js";
import { Loop } from "../../../platform/worker.js";
import type { CatalogStore, ProductRecord } from "../store.js";

/** Sends products to the index (their current state) and removes ids that no longer exist. */
export type SearchIndexer = (batch: {
  upsert: readonly ProductRecord[];
  remove: readonly string[];
}) => Promise<void>;

// Outbox rows a step reads at most; products per push when re-indexing everything.
const stepRows = 1_000;
const reindexPage = 200;

/**
 * One step: the products changed since the indexer's cursor (every product when it has none)
 * are sent in their current state, which makes every push idempotent: a step repeated after a
 * crash or a failed push does no harm. Returns the outbox rows read; undefined when another
 * replica is indexing.
 */
export async function drainOutbox(
  store: CatalogStore,
  indexer: SearchIndexer,
  options: { limit?: number } = {},
): Promise<number | undefined> {
  return store.outbox.drain(options.limit ?? stepRows, async (changes) => {
    if ("all" in changes) {
      for (let skip = 0; ; skip += reindexPage) {
        const page = await store.products.list(skip, reindexPage);
        if (page.length > 0) await indexer({ upsert: page, remove: [] });
        if (page.length < reindexPage) return;
      }
    }
    const found = await store.products.findByIds(changes.productIds);
    const foundIds = new Set(found.map((p) => p.id));
    await indexer({ upsert: found, remove: changes.productIds.filter((id) => !foundIds.has(id)) });
  });
}

/**
 * Follows the outbox in the background, backing off (up to a minute) while pushes fail.
 * `prepare` (creating the index) runs before the first push and again after each failure of
 * it, so a search server that is not up yet when the catalog starts only delays indexing.
 */
export function outboxWorker(
  store: CatalogStore,
  indexer: SearchIndexer,
  logger: Logger,
  options: { intervalMs?: number; prepare?: () => Promise<void> } = {},
): Loop<number> {
  let prepared = options.prepare === undefined;
  let failures = 0;
  let retryAt = 0;
  return new Loop({
    name: "search indexer",
    intervalMs: options.intervalMs ?? 1_000,
    logger,
    pass: async () => {
      if (Date.now() < retryAt) return 0;
      try {
        if (!prepared) {
          await options.prepare?.();
          prepared = true;
        }
        const read = (await drainOutbox(store, indexer)) ?? 0;
        failures = 0;
        return read;
      } catch (error) {
        retryAt = Date.now() + Math.min(60_000, 1_000 * 2 ** failures++);
        logger.warn({ err: error }, "search index push failed; will retry");
        return 0;
      }
    },
    more: (read) => read >= stepRows,
  });
}
