// The search outbox: product changes waiting to be pushed to the search index. Rows are
// written in the same transaction as the product change, so the index can lag but never miss.
import { and, asc, inArray, isNull, lte, sql } from "drizzle-orm";
import { executeRows } from "../../../platform/data/database.js";
import { searchOutbox } from "../schema.js";
import type { CatalogDb, Tx } from "./db.js";

export interface OutboxEntry {
  id: number;
  productId: string;
  attempts: number;
}

/** Queues `productIds` for indexing inside the product write's transaction. */
export async function enqueueForIndexing(tx: Tx, productIds: readonly string[]): Promise<void> {
  // One statement per 1000 rows keeps far below PostgreSQL's 65,535 parameters.
  for (let i = 0; i < productIds.length; i += 1000) {
    await tx
      .insert(searchOutbox)
      .values(productIds.slice(i, i + 1000).map((productId) => ({ productId })));
  }
}

export class SearchOutboxStore {
  constructor(private readonly db: CatalogDb) {}

  /** Outbox rows due at `now`, oldest first. */
  async due(limit: number, now: Date = new Date()): Promise<OutboxEntry[]> {
    return this.db
      .select({
        id: searchOutbox.id,
        productId: searchOutbox.productId,
        attempts: searchOutbox.attempts,
      })
      .from(searchOutbox)
      .where(and(isNull(searchOutbox.doneTime), lte(searchOutbox.nextAttemptTime, now)))
      .orderBy(asc(searchOutbox.id))
      .limit(limit);
  }

  /**
   * Claims up to `limit` rows due at `now` for one worker's push: their next attempt moves
   * `leaseSeconds` ahead, so another worker (another replica) skips them, and a worker that dies
   * mid-push only delays them. SKIP LOCKED keeps workers claiming at once from waiting on each
   * other or taking the same rows.
   */
  async claim(limit: number, leaseSeconds: number, now: Date = new Date()): Promise<OutboxEntry[]> {
    const due = this.db
      .select({ id: searchOutbox.id })
      .from(searchOutbox)
      .where(and(isNull(searchOutbox.doneTime), lte(searchOutbox.nextAttemptTime, now)))
      .orderBy(asc(searchOutbox.id))
      .limit(limit)
      .for("update", { skipLocked: true });
    const rows = await this.db
      .update(searchOutbox)
      .set({
        nextAttemptTime: sql`${now.toISOString()}::timestamptz + ${leaseSeconds}::int * interval '1 second'`,
      })
      .where(and(inArray(searchOutbox.id, due), isNull(searchOutbox.doneTime)))
      .returning({
        id: searchOutbox.id,
        productId: searchOutbox.productId,
        attempts: searchOutbox.attempts,
      });
    return rows.sort((a, b) => a.id - b.id);
  }

  async complete(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .update(searchOutbox)
      .set({ doneTime: sql`now()` })
      .where(inArray(searchOutbox.id, [...ids]));
  }

  /** Counts a failed push and backs off: 2^attempts seconds, at most 5 minutes. */
  async fail(ids: readonly number[], error: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .update(searchOutbox)
      .set({
        attempts: sql`${searchOutbox.attempts} + 1`,
        lastError: error.slice(0, 2000),
        nextAttemptTime: sql`now() + least(power(2, ${searchOutbox.attempts}), 300) * interval '1 second'`,
      })
      .where(inArray(searchOutbox.id, [...ids]));
  }

  /** Forgets outbox rows pushed more than a day ago. */
  async prune(): Promise<void> {
    await this.db
      .delete(searchOutbox)
      .where(sql`${searchOutbox.doneTime} < now() - interval '1 day'`);
  }

  /** Queues every product for indexing, e.g. when the search index was just created. */
  async enqueueAllProducts(): Promise<number> {
    const rows = await executeRows<{ id: number }>(
      this.db,
      sql`insert into search_outbox (product_id)
          select id from products order by create_time, id
          returning id`,
    );
    return rows.length;
  }
}
