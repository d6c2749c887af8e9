// Test support for the outbox tail on its own: raw rows written into a service's migrated `outbox`
// table (platform/events/table.ts) the way a service writes them (in the change's transaction,
// the thing's next sequence number), without a service around them. Tests of the Watch streams
// make their changes through the services' RPCs instead, so the services write their own rows.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import type { Database } from "../data/database.js";

// biome-ignore lint/suspicious/noExplicitAny: any service's schema; only `outbox` is touched.
type AnyDatabase = Database<any>;

/**
 * Writes one event of `thingId` (a UUID: the table's thing_id is one) with its next sequence,
 * inside `db` as given: pass a transaction and it commits with the caller's.
 */
export async function insertOutboxRow(
  db: AnyDatabase,
  row: { subject: string; thingId: string; payload: Uint8Array },
): Promise<number> {
  // One writer per thing at a time, as a service's row lock on the thing would do.
  await db.execute(sql`select pg_advisory_xact_lock(hashtext(${row.thingId}))`);
  const rows = (await db.execute(
    sql`insert into outbox (event_id, subject, thing_id, sequence, payload, occur_time)
        select ${randomUUID()}::uuid, ${row.subject}, ${row.thingId}::uuid,
               coalesce(max(sequence), 0) + 1, ${Buffer.from(row.payload)}, now()
        from outbox where thing_id = ${row.thingId}::uuid
        returning sequence::text`,
  )) as unknown as { sequence: string }[];
  return Number(rows[0]?.sequence);
}

/** `insertOutboxRow` in its own transaction. */
export function recordEvent(
  db: AnyDatabase,
  row: { subject: string; thingId: string; payload: Uint8Array },
): Promise<number> {
  return db.transaction((tx) => insertOutboxRow(tx as unknown as AnyDatabase, row));
}
