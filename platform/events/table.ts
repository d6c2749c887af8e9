// The outbox table every service declares in its schema.ts (`export const outbox = outboxTable()`),
// so that drizzle-kit writes it into the service's own migrations, and the consumer cursor table
// for services that read their own outbox (the catalog's search indexer).
import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  customType,
  index,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

/**
 * PostgreSQL's 64-bit transaction id. Read as text: values pass 2^53, and they are only ever
 * compared by the database.
 */
export const xid8 = customType<{ data: string; driverData: string }>({
  dataType: () => "xid8",
});

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => "bytea",
});

export function outboxTable() {
  return pgTable(
    "outbox",
    {
      // Insertion order; for one thing it is also commit order (see platform/events/README.md).
      id: bigserial("id", { mode: "number" }).primaryKey(),
      eventId: uuid("event_id").notNull(),
      // bazaar.<service>.v1.<Event>, the NATS subject.
      subject: text("subject").notNull(),
      // The order, product or account the event is about.
      thingId: uuid("thing_id").notNull(),
      // 1, 2, 3… per thing across all its events.
      sequence: bigint("sequence", { mode: "number" }).notNull(),
      // The event message, protobuf binary, sequence included.
      payload: bytea("payload").notNull(),
      occurTime: timestamp("occur_time", { withTimezone: true, mode: "date" }).notNull(),
      // The writing transaction: below pg_snapshot_xmin(pg_current_snapshot()) every row is
      // final, which is how readers of the outbox (the search indexer, watch streams) advance
      // without ever skipping a row that commits late.
      txid: xid8("txid").notNull().default(sql`pg_current_xact_id()`),
      // When JetStream acknowledged it; null while unpublished.
      publishedTime: timestamp("published_time", { withTimezone: true, mode: "date" }),
    },
    (table) => [
      // The relay's scan: unpublished rows in id order, a small index however long the table.
      index("outbox_unpublished_idx").on(table.id).where(sql`${table.publishedTime} is null`),
      // Readers below the safe horizon, in (txid, id) order.
      index("outbox_txid_id_idx").on(table.txid, table.id),
      // A thing's events by sequence (the Watch streams' snapshot and resume); unique, so a
      // sequence can never be written twice.
      uniqueIndex("outbox_thing_sequence_idx").on(table.thingId, table.sequence),
      // Pruning by age: rows arrive in time order, so a BRIN index is tiny and cheap to keep.
      index("outbox_occur_time_brin_idx").using("brin", table.occurTime),
    ],
  );
}

export type OutboxTable = ReturnType<typeof outboxTable>;

/**
 * How far each reader of the outbox has come: every row at or below (txid, id) is done.
 * A reader without a row starts over from scratch (e.g. re-indexes everything).
 */
export function outboxCursorTable() {
  return pgTable("outbox_cursors", {
    consumer: text("consumer").primaryKey(),
    txid: xid8("txid").notNull(),
    id: bigint("id", { mode: "number" }).notNull(),
    updateTime: timestamp("update_time", { withTimezone: true, mode: "date" })
      .notNull()
      .defaultNow(),
  });
}

/**
 * The thing's event counter, on the thing's own row: each change adds one per event in the
 * statement that changes the row, so its events are numbered 1, 2, 3… in commit order.
 */
export function eventSeqColumn() {
  return bigint("event_seq", { mode: "number" }).notNull().default(0);
}
