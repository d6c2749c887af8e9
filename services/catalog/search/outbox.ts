// The outbox worker: pushes product changes from search_outbox to the search index, with
// backoff per row, so an unreachable OpenSearch delays search freshness but loses nothing.
import type { Logger } from "../../../platform/observability/logger.js";
import { Loop } from "../../../platform/worker.js";
import type { CatalogStore, ProductRecord } from "../store.js";

/** Sends products to the index (their current state) and removes ids that no longer exist. */
export type SearchIndexer = (batch: {
  upsert: readonly ProductRecord[];
  remove: readonly string[];
}) => Promise<void>;

// Longer than any push takes; a row whose worker died is pushed again after this.
const claimLeaseSeconds = 60;

export interface DrainResult {
  pushed: number;
  failed: number;
}

/**
 * One pass: takes the due outbox rows, sends the products' current rows in one batch, and
 * marks them done, or counts the failure and schedules a retry. Sending current state makes
 * every push idempotent, so two workers or a retry after a crash do no harm.
 */
export async function drainOutbox(
  store: CatalogStore,
  indexer: SearchIndexer,
  options: { batchSize?: number; now?: Date } = {},
): Promise<DrainResult> {
  // Claimed, not just read: replicas draining at once push disjoint rows.
  const due = await store.outbox.claim(options.batchSize ?? 200, claimLeaseSeconds, options.now);
  if (due.length === 0) return { pushed: 0, failed: 0 };
  const ids = [...new Set(due.map((row) => row.productId))];
  const found = await store.products.findByIds(ids);
  const foundIds = new Set(found.map((p) => p.id));
  try {
    await indexer({ upsert: found, remove: ids.filter((id) => !foundIds.has(id)) });
  } catch (error) {
    await store.outbox.fail(
      due.map((row) => row.id),
      error instanceof Error ? error.message : String(error),
    );
    return { pushed: 0, failed: due.length };
  }
  await store.outbox.complete(due.map((row) => row.id));
  return { pushed: due.length, failed: 0 };
}

/**
 * Drains the outbox in the background. `prepare` (creating the index) runs before the first
 * push and again after each failure of it, so a search server that is not up yet when the
 * catalog starts only delays indexing.
 */
export function outboxWorker(
  store: CatalogStore,
  indexer: SearchIndexer,
  logger: Logger,
  options: { intervalMs?: number; prepare?: () => Promise<void> } = {},
): Loop<number> {
  let passes = 0;
  let prepared = options.prepare === undefined;
  return new Loop({
    name: "search outbox",
    intervalMs: options.intervalMs ?? 1_000,
    logger,
    pass: async () => {
      if (!prepared) {
        await options.prepare?.();
        prepared = true;
      }
      const { pushed, failed } = await drainOutbox(store, indexer);
      if (failed > 0) logger.warn({ failed }, "search index push failed; will retry");
      if (++passes % 600 === 0) await store.outbox.prune();
      return pushed;
    },
    more: (pushed) => pushed >= 200,
  });
}
