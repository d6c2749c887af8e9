// The order service's tables. Only this service's process ever touches them.
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { timestamps } from "../../platform/data/columns.js";
import { eventSeqColumn, outboxTable } from "../../platform/events/table.js";

/** Where an order is in CreateOrder's saga; see saga.ts for the transitions. */
export const orderStatuses = ["pending", "confirmed", "failed"] as const;

/**
 * Where a confirmed order is in its life after checkout, what the API calls its status
 * (ORDER_STATUS_*): placed, then shipped or cancelled (lifecycle.ts). A column of its own, not
 * more values of `status`: the saga's outcome (what the catalog's reservation became) stays
 * CONFIRMED whatever happens to the order afterwards.
 */
export const fulfilments = ["placed", "shipped", "cancelled"] as const;

export const orders = pgTable(
  "orders",
  {
    // Also the catalog reservation's order_id, chosen before the reservation is asked for.
    id: uuid("id").primaryKey(),
    accountId: uuid("account_id").notNull(),
    idempotencyKey: text("idempotency_key"),
    status: text("status", { enum: orderStatuses }).notNull().default("pending"),
    // Set when confirmed: the exact sum of unit_price_cents * quantity.
    totalCents: bigint("total_cents", { mode: "bigint" }),
    // Whether the catalog knows the outcome: a confirmed order's reservation is committed,
    // a failed order's is released (or never existed). False means recovery has work to do.
    settled: boolean("settled").notNull().default(false),
    // Why a failed attempt failed, as a reason name (OrderFailure in domain.ts; store.ts
    // reads it back), for concurrent duplicates; the handler words it. failure_message is
    // no longer written: rows from before reasons hold a Connect code name and message.
    failureCode: text("failure_code"),
    failureMessage: text("failure_message"),
    // For an out-of-stock failure: the product that was short.
    failureProductId: uuid("failure_product_id"),
    // The process that placed it, `<instance>/<boot id>` (see OrderStore): a restarted
    // instance fails its predecessor's pending attempts at once instead of after
    // RECOVERY_AFTER_MS. Null on rows from before it was recorded.
    owner: text("owner"),
    // Meaningful once confirmed; confirmed orders from before it are placed.
    fulfilment: text("fulfilment", { enum: fulfilments }).notNull().default("placed"),
    // What the canceller said, when cancelled with a reason.
    cancelReason: text("cancel_reason"),
    // Set in the transaction that cancels the order, cleared once the catalog has put its
    // stock back (ReturnStock): true means recovery has a return to finish.
    returnPending: boolean("return_pending").notNull().default(false),
    // create_time, and update_time: when the order last changed as its owner sees it (placed,
    // shipped, cancelled); the catalog learning of it (settled, return_pending) does not count.
    eventSeq: eventSeqColumn(),
    ...timestamps,
  },
  (table) => [
    // One live attempt per key: failed attempts step aside so that a retry starts afresh.
    uniqueIndex("orders_account_idempotency_key")
      .on(table.accountId, table.idempotencyKey)
      .where(sql`${table.status} <> 'failed'`),
    index("orders_account_confirmed").on(table.accountId, table.createTime.desc(), table.id.desc()),
    // Recovery scans only what is unfinished.
    index("orders_unsettled").on(table.status, table.updateTime).where(sql`not ${table.settled}`),
    // ListOrders: every placed order, newest first.
    index("orders_confirmed_newest")
      .on(table.createTime.desc(), table.id.desc())
      .where(sql`${table.status} = 'confirmed'`),
    // Recovery finds cancelled orders whose stock is not back yet.
    index("orders_return_pending").on(table.updateTime).where(sql`${table.returnPending}`),
    check("orders_status_check", sql`${table.status} in ('pending', 'confirmed', 'failed')`),
    check(
      "orders_fulfilment_check",
      sql`${table.fulfilment} in ('placed', 'shipped', 'cancelled')`,
    ),
  ],
);

export const orderItems = pgTable(
  "order_items",
  {
    orderId: uuid("order_id")
      .notNull()
      .references(() => orders.id, { onDelete: "cascade" }),
    position: integer("position").notNull(),
    productId: uuid("product_id").notNull(),
    // A snapshot of the product when the order was placed.
    name: text("name").notNull(),
    description: text("description").notNull(),
    unitPriceCents: bigint("unit_price_cents", { mode: "bigint" }).notNull(),
    quantity: integer("quantity").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.orderId, table.position] }),
    check("order_items_quantity_check", sql`${table.quantity} between 1 and 1000`),
    check("order_items_price_check", sql`${table.unitPriceCents} >= 0`),
  ],
);

/** Domain events waiting for JetStream (platform/events). */
export const outbox = outboxTable();
