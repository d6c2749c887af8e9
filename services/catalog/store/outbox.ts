// The search indexer's reading of the catalog's event outbox: which products changed since its
// cursor. It reads only below the safe horizon (pg_snapshot_xmin of the current snapshot),
// where every row is final, in (txid, id) order, so a row that commits late is never skipped.
import { sql } from "drizzle-orm";
import {
  ProductCreatedSchema,
  ProductUpdatedSchema,
} from "../../../gen/bazaar/catalog/v1/events_pb.js";
import { executeRows } from "../../../platform/data/database.js";
import type { CatalogDb } from "./db.js";

/** The indexer's name in outbox_cursors. */
export const searchConsumer = "search";

// One indexer at a time across replicas; a pass elsewhere makes this one skip.
const searchLockKey = 7_305_722_111;

// Events that change what the index holds; StockChanged does not (stock is read from
// PostgreSQL at search time).
const indexedSubjects: readonly string[] = [
  ProductCreatedSchema.typeName,
  ProductUpdatedSchema.typeName,
];

/** What changed: some products, or everything (no cursor yet: a new index or an upgrade). */
export type SearchChanges = { productIds: string[] } | { all: true };

export class SearchOutboxStore {
  constructor(private readonly db: CatalogDb) {}

  /**
   * One step of the indexer, as one transaction under its lock: hands `push` what changed
   * after the cursor (up to `limit` outbox rows), and moves the cursor past them once `push`
   * resolves; if it throws, nothing moves. Returns the outbox rows read, or undefined when
   * another replica holds the lock.
   */
  async drain(
    limit: number,
    push: (changes: SearchChanges) => Promise<void>,
  ): Promise<number | undefined> {
    return this.db.transaction(async (tx) => {
      const [lock] = await executeRows<{ locked: boolean }>(
        tx,
        sql`select pg_try_advisory_xact_lock(${searchLockKey}) as locked`,
      );
      if (!lock?.locked) return undefined;
      const [cursor] = await executeRows<{ txid: string; id: number }>(
        tx,
        sql`select txid::text, id from outbox_cursors where consumer = ${searchConsumer}`,
      );
      if (!cursor) {
        // Everything committed below the horizon is in the products the push reads next;
        // anything later is in the outbox from here.
        await tx.execute(
          sql`insert into outbox_cursors (consumer, txid, id)
            values (${searchConsumer}, pg_snapshot_xmin(pg_current_snapshot()), 0)`,
        );
        await push({ all: true });
        return 0;
      }
      const rows = await executeRows<{
        id: string;
        txid: string;
        subject: string;
        thing_id: string;
      }>(
        tx,
        sql`select id, txid::text, subject, thing_id from outbox
          where (txid, id) > (${cursor.txid}::xid8, ${cursor.id}::bigint)
            and txid < pg_snapshot_xmin(pg_current_snapshot())
          order by txid, id limit ${limit}`,
      );
      const last = rows.at(-1);
      if (!last) return 0;
      const productIds = [
        ...new Set(rows.filter((r) => indexedSubjects.includes(r.subject)).map((r) => r.thing_id)),
      ];
      if (productIds.length > 0) await push({ productIds });
      await tx.execute(
        sql`update outbox_cursors set txid = ${last.txid}::xid8, id = ${last.id}::bigint,
          update_time = now() where consumer = ${searchConsumer}`,
      );
      return rows.length;
    });
  }

  /** Forgets the cursor: the next step pushes every product (the index was just created). */
  async restart(): Promise<void> {
    await this.db.execute(sql`delete from outbox_cursors where consumer = ${searchConsumer}`);
  }
}
