// Forgets outbox rows after the retention window: published ones, and, when no NATS_URL is
// set, unpublished ones too (they were never going anywhere but the outbox's own readers).
// A row a reader of the outbox (outbox_cursors) has not passed yet is kept.
import { sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { Logger } from "../observability/logger.js";
import { Loop } from "../worker.js";

// biome-ignore lint/suspicious/noExplicitAny: any service's database will do.
type Db = PgDatabase<PgQueryResultHKT, any, any>;

// Deleted per statement: a long backlog goes in short transactions.
const pruneBatch = 5_000;

export interface PruneOptions {
  retentionHours: number;
  /** Whether a relay publishes this outbox (then only published rows may go). */
  publishing: boolean;
  now?: Date;
}

/** Deletes what the retention window lets go; returns how many rows. */
export async function pruneOutbox(db: Db, options: PruneOptions): Promise<number> {
  const cutoff = new Date(
    (options.now ?? new Date()).getTime() - options.retentionHours * 3_600_000,
  ).toISOString();
  const [cursors] = (await db.execute(
    sql`select to_regclass('outbox_cursors') is not null as present`,
  )) as unknown as { present: boolean }[];
  const keepUnread = cursors?.present
    ? sql`and not exists (select from outbox_cursors c where (o.txid, o.id) > (c.txid, c.id))`
    : sql``;
  const published = options.publishing ? sql`and o.published_time is not null` : sql``;
  let total = 0;
  for (;;) {
    const rows = (await db.execute(
      sql`delete from outbox where id in (
        select o.id from outbox o
        where o.occur_time < ${cutoff}::timestamptz ${published} ${keepUnread}
        limit ${pruneBatch})
      returning 1`,
    )) as unknown as unknown[];
    total += rows.length;
    if (rows.length < pruneBatch) return total;
  }
}

export function pruneWorker(
  db: Db,
  options: Omit<PruneOptions, "now"> & { logger: Logger; intervalMs?: number },
): Loop<number> {
  return new Loop({
    name: "outbox pruning",
    intervalMs: options.intervalMs ?? 10 * 60_000,
    logger: options.logger,
    pass: async () => {
      const pruned = await pruneOutbox(db, options);
      if (pruned > 0) options.logger.debug({ pruned }, "pruned the outbox");
      return pruned;
    },
  });
}
