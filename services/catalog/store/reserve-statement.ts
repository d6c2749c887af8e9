// The reserve statement: taking an order's stock all or nothing in one statement, and reading
// what its rows say (made, refused, or already made by an earlier call with the same order id).
import { asc, eq, type SQL, sql } from "drizzle-orm";
import { pgArray } from "../../../platform/data/database.js";
import { outboxInsertSql } from "../../../platform/events/record.js";
import type { ItemQuantity } from "../domain.js";
import { stockChangeDraft, stockField } from "../events.js";
import { products, reservationItems } from "../schema.js";
import type { Executor } from "./db.js";
import {
  type ReservationRefusal,
  type ReserveOutcome,
  readReservation,
} from "./reservation-records.js";

/** One row of the reserve statement: a wanted product, its stock, and the new reservation. */
export interface ReserveRow {
  product_id: string;
  quantity: number;
  available: number | null;
  name: string | null;
  description: string | null;
  price_cents: string | number | null;
  create_time: string | Date | null;
  expire_time: string | Date | null;
}

/**
 * Takes `wanted` (merged, in product-id order) for `orderId`. It locks the wanted stock rows in
 * product-id order (so parallel reservations never deadlock) and reads their current stock;
 * only when every product has enough does it insert the reservation, decrement the stock and
 * record the items with their unit prices. The reservation's primary key makes a second call
 * with the same order id wait for the first, then insert nothing; the CHECK (stock >= 0) makes
 * an oversell an error that rolls the whole statement back. Each product's StockChanged event
 * is written by the same statement, numbered from the stock row it updates. One row per wanted
 * product, in product-id order.
 */
export function reserveStatement(
  orderId: string,
  wanted: readonly ItemQuantity[],
  ttlSeconds: number,
): SQL {
  const ids = pgArray(wanted.map((w) => w.productId));
  const quantities = pgArray(wanted.map((w) => w.quantity));
  // StockChanged per product, recorded by the statement only if the stock is taken.
  const drafts = wanted.map((w) =>
    stockChangeDraft({ productId: w.productId, delta: -w.quantity, orderId }),
  );
  return sql`with wanted as (
    select * from unnest(${ids}::uuid[], ${quantities}::int[]) as w(product_id, quantity)
  ), locked as (
    select product_id, stock from product_stock
    where product_id = any(${ids}::uuid[]) order by product_id for update
  ), enough as (
    select count(*) = ${wanted.length}::int as ok
    from wanted w join locked l using (product_id) where l.stock >= w.quantity
  ), inserted as (
    insert into reservations (order_id, expire_time)
    select ${orderId}::uuid, now() + ${ttlSeconds}::int * interval '1 second' from enough where ok
    on conflict do nothing
    returning create_time, expire_time
  ), taken as (
    update product_stock s set stock = s.stock - w.quantity, event_seq = s.event_seq + 1
    from wanted w where s.product_id = w.product_id and exists (select from inserted)
    returning s.product_id, s.stock, s.event_seq
  ), events as (
    ${outboxInsertSql(drafts, {
      relation: "taken",
      thingColumn: "product_id",
      sequenceColumn: "event_seq",
      fields: [{ number: stockField, column: "stock" }],
      stampOccurTime: true,
    })}
  ), recorded as (
    insert into reservation_items (order_id, product_id, quantity, unit_price_cents)
    select ${orderId}::uuid, w.product_id, w.quantity, p.price_cents
    from wanted w join products p on p.id = w.product_id
    where exists (select from inserted)
  )
  select w.product_id, w.quantity, l.stock as available, p.name, p.description,
    p.price_cents, i.create_time, i.expire_time
  from wanted w
    left join locked l using (product_id)
    left join products p on p.id = w.product_id
    left join inserted i on true
  order by w.product_id`;
}

/**
 * Locks the stock rows of `productIds` in product-id order: the first statement of a
 * transaction holding several reserve statements, which would otherwise each lock their own
 * products in turn, and deadlock with another such transaction.
 */
export function lockStockStatement(productIds: readonly string[]): SQL {
  const ids = pgArray([...new Set(productIds)]);
  return sql`select from product_stock where product_id = any(${ids}::uuid[])
    order by product_id for update`;
}

/** The reservation the statement made, with its priced products; undefined if it made none. */
export function madeReservation(
  orderId: string,
  wanted: ItemQuantity[],
  rows: readonly ReserveRow[],
): ReserveOutcome | undefined {
  const first = rows[0];
  if (!first?.create_time) return undefined;
  return {
    reservation: {
      orderId,
      state: "pending",
      items: wanted,
      createTime: new Date(first.create_time),
      expireTime: new Date(first.expire_time as string),
    },
    products: rows.map((row) => ({
      productId: row.product_id,
      name: row.name ?? "",
      description: row.description ?? "",
      unitPriceCents: Number(row.price_cents),
    })),
  };
}

/** Why the statement took nothing: unknown or short products, or undefined if neither. */
export function refusalOf(rows: readonly ReserveRow[]): ReservationRefusal | undefined {
  const missing = rows.filter((r) => r.available === null).map((r) => r.product_id);
  if (missing.length > 0) return { reason: "unknown-products", productIds: missing };
  const shortages = rows
    .filter((r) => (r.available ?? 0) < r.quantity)
    .map((r) => ({
      productId: r.product_id,
      available: r.available ?? 0,
      requested: r.quantity,
    }));
  if (shortages.length > 0) return { reason: "insufficient-stock", shortages };
  return undefined;
}

/** An existing reservation with its products at the unit prices their stock was taken at. */
export async function readReserved(
  db: Executor,
  orderId: string,
): Promise<ReserveOutcome | undefined> {
  const record = await readReservation(db, orderId);
  if (!record) return undefined;
  const priced = await db
    .select({
      productId: reservationItems.productId,
      name: products.name,
      description: products.description,
      unitPriceCents:
        sql<number>`coalesce(${reservationItems.unitPriceCents}, ${products.priceCents})`.mapWith(
          Number,
        ),
    })
    .from(reservationItems)
    .innerJoin(products, eq(products.id, reservationItems.productId))
    .where(eq(reservationItems.orderId, orderId))
    .orderBy(asc(reservationItems.productId));
  return { reservation: record, products: priced };
}
