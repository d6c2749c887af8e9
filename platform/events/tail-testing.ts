// Test support for the live streams until platform/events' outbox lands: the `outbox` table
// with exactly its agreed columns, and rows written the way the services write them (in the
// change's transaction, the thing's next sequence number).
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import type { Database } from "../data/database.js";

// biome-ignore lint/suspicious/noExplicitAny: any service's schema; only `outbox` is touched.
type AnyDatabase = Database<any>;

/** Creates `outbox` (and the indexes the tail relies on) if the migrations did not. */
export async function createOutboxTable(db: AnyDatabase): Promise<void> {
  await db.execute(sql`create table if not exists outbox (
    id bigserial primary key,
    event_id uuid not null,
    subject text not null,
    thing_id text not null,
    sequence bigint not null,
    payload bytea not null,
    occur_time timestamptz not null default now(),
    txid xid8 not null default pg_current_xact_id(),
    published_time timestamptz null)`);
  await db.execute(sql`create index if not exists outbox_txid_id_idx on outbox (txid, id)`);
  await db.execute(
    sql`create unique index if not exists outbox_thing_sequence_idx on outbox (thing_id, sequence)`,
  );
}

/**
 * Writes one event of `thingId` with its next sequence, inside `tx` when given (then it
 * commits with the caller's transaction), else in a transaction of its own.
 */
export async function insertOutboxRow(
  db: AnyDatabase,
  row: { subject: string; thingId: string; payload: Uint8Array },
): Promise<number> {
  // One writer per thing at a time, as a service's row lock on the thing would do.
  await db.execute(sql`select pg_advisory_xact_lock(hashtext(${row.thingId}))`);
  const rows = (await db.execute(
    sql`insert into outbox (event_id, subject, thing_id, sequence, payload)
        select ${randomUUID()}::uuid, ${row.subject}, ${row.thingId},
               coalesce(max(sequence), 0) + 1, ${Buffer.from(row.payload)}
        from outbox where thing_id = ${row.thingId}
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
