// The catalog service's tables. Only this service's process ever touches them.
import { type SQL, sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  customType,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from "drizzle-orm/pg-core";
import { timestamps } from "../../platform/data/columns.js";
import { eventSeqColumn, outboxCursorTable, outboxTable } from "../../platform/events/table.js";

const tsvector = customType<{ data: string }>({ dataType: () => "tsvector" });

export const products = pgTable(
  "products",
  {
    id: uuid("id").primaryKey(),
    name: text("name").notNull(),
    description: text("description").notNull().default(""),
    // Up to 1e8 cents: well inside a double's exact integers, so "number" mode is safe.
    priceCents: bigint("price_cents", { mode: "number" }).notNull(),
    ...timestamps,
    // Name words weigh A, description words B; kept by PostgreSQL, never written by us.
    search: tsvector("search")
      .notNull()
      .generatedAlwaysAs(
        (): SQL =>
          sql`setweight(to_tsvector('english'::regconfig, ${products.name}), 'A') || setweight(to_tsvector('english'::regconfig, ${products.description}), 'B')`,
      ),
  },
  (table) => [
    index("products_search_idx").using("gin", table.search),
    // The name's words alone, so that search finds name matches without reading every match
    // (store/products.ts, search): the same words as `search`'s weight A.
    index("products_name_search_idx").using(
      "gin",
      sql`to_tsvector('english'::regconfig, ${table.name})`,
    ),
    index("products_create_time_id_idx").on(table.createTime, table.id),
    check("products_price_cents_check", sql`${table.priceCents} > 0`),
  ],
);

/**
 * One row: a counter that a trigger (drizzle/0007_search_generation.sql) raises in every
 * statement that inserts or deletes products or writes their name or description, in that
 * statement's transaction. Search remembers each query's ranked ids with the generation they
 * were ranked at, and reads the generation again with every page (store/search.ts): a product's
 * text changed on any replica is seen on the next call. Stock and price never raise it.
 */
export const searchGeneration = pgTable(
  "search_generation",
  {
    id: boolean("id").primaryKey().default(true),
    generation: bigint("generation", { mode: "number" }).notNull().default(0),
  },
  (table) => [check("search_generation_one_row", sql`${table.id}`)],
);

/**
 * Each product's stock, apart from the product: a decrement rewrites this narrow row only (a
 * HOT update, with room left on its page), never the product's text and search vector.
 */
export const productStock = pgTable(
  "product_stock",
  {
    productId: uuid("product_id")
      .primaryKey()
      .references(() => products.id),
    stock: integer("stock").notNull(),
    // The product's event counter (platform/events): here, since every stock change locks and
    // rewrites this row anyway; product edits bump it too.
    eventSeq: eventSeqColumn(),
  },
  (table) => [check("product_stock_stock_check", sql`${table.stock} >= 0`)],
);

export const reservations = pgTable(
  "reservations",
  {
    // The caller's order id: the primary key is what makes a reservation idempotent.
    orderId: uuid("order_id").primaryKey(),
    // pending → committed (sold) or released (back to stock); committed → returned when its
    // order is cancelled (back to stock, once).
    state: text("state", { enum: ["pending", "committed", "released", "returned"] })
      .notNull()
      .default("pending"),
    createTime: timestamp("create_time", { withTimezone: true, mode: "date" })
      .notNull()
      .defaultNow(),
    expireTime: timestamp("expire_time", { withTimezone: true, mode: "date" }).notNull(),
    updateTime: timestamp("update_time", { withTimezone: true, mode: "date" })
      .notNull()
      .defaultNow(),
  },
  (table) => [
    // The sweeper looks only at pending reservations, oldest expiry first.
    index("reservations_pending_expire_idx")
      .on(table.expireTime)
      .where(sql`${table.state} = 'pending'`),
    check(
      "reservations_state_check",
      sql`${table.state} in ('pending', 'committed', 'released', 'returned')`,
    ),
  ],
);

export const reservationItems = pgTable(
  "reservation_items",
  {
    orderId: uuid("order_id")
      .notNull()
      .references(() => reservations.orderId),
    productId: uuid("product_id")
      .notNull()
      .references(() => products.id),
    quantity: integer("quantity").notNull(),
    // The unit price the stock was taken at; null only on rows older than this column.
    unitPriceCents: bigint("unit_price_cents", { mode: "number" }),
  },
  (table) => [
    primaryKey({ columns: [table.orderId, table.productId] }),
    check("reservation_items_quantity_check", sql`${table.quantity} > 0`),
  ],
);

/**
 * The catalog's domain events (platform/events): published to JetStream by the relay, and read
 * by the search indexer (search/outbox.ts) to keep OpenSearch in step.
 */
export const outbox = outboxTable();

/** How far each reader of the outbox has come (the search indexer). */
export const outboxCursors = outboxCursorTable();
