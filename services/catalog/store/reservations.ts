// Stock reservations: taking stock for an order all or nothing, then committing (sold) or
// releasing (back to stock) it, each exactly once however often it is asked.
import { and, asc, eq, inArray, lte, sql } from "drizzle-orm";
import { batched } from "../../../platform/data/batcher.js";
import { executeRows, pgArray } from "../../../platform/data/database.js";
import {
  type EventRecord,
  outboxInsertSql,
  recordEvents,
} from "../../../platform/events/record.js";
import { type ItemQuantity, mergeInLockOrder } from "../domain.js";
import { stockChangeDraft, stockChanged, stockField } from "../events.js";
import { productStock, products, reservationItems, reservations } from "../schema.js";
import { type CatalogDb, type Executor, retryingTransaction, type Tx } from "./db.js";
import {
  type ReservationOutcome,
  type ReservationRefusal,
  type ReservationState,
  type ReserveOutcome,
  readReservation,
} from "./reservation-records.js";

/** Thrown inside a transaction to roll it back, caught right outside it. */
class Refused extends Error {
  constructor(readonly refusal: ReservationRefusal) {
    super(refusal.reason);
  }
}

/** One row of the reserve statement: a wanted product, its stock, and the new reservation. */
interface ReserveRow {
  product_id: string;
  quantity: number;
  available: number | null;
  name: string | null;
  description: string | null;
  price_cents: string | number | null;
  create_time: string | Date | null;
  expire_time: string | Date | null;
}

export class ReservationStore {
  constructor(private readonly db: CatalogDb) {}

  /**
   * Takes stock for `orderId`, all or nothing, in one statement (one round trip, its own
   * transaction). It locks the wanted stock rows in product-id order (so parallel
   * reservations never deadlock) and reads their current stock; only when every product has
   * enough does it insert the reservation, decrement the stock and record the items with
   * their unit prices. The reservation's primary key makes a second call with the same order
   * id wait for the first, then insert nothing; the CHECK (stock >= 0) makes an oversell an
   * error that rolls the whole statement back. Each product's StockChanged event is written
   * by the same statement, numbered from the stock row it updates.
   */
  async reserve(
    orderId: string,
    items: readonly ItemQuantity[],
    ttlSeconds: number,
  ): Promise<ReserveOutcome> {
    const wanted = mergeInLockOrder(items);
    const ids = pgArray(wanted.map((w) => w.productId));
    const quantities = pgArray(wanted.map((w) => w.quantity));
    // StockChanged per product, recorded by the statement only if the stock is taken.
    const drafts = wanted.map((w) =>
      stockChangeDraft({ productId: w.productId, delta: -w.quantity, orderId }),
    );
    const rows = await executeRows<ReserveRow>(
      this.db,
      sql`with wanted as (
        select * from unnest(${ids}::uuid[], ${quantities}::int[]) as w(product_id, quantity)
      ), locked as (
        select product_id, stock from product_stock
        where product_id = any(${ids}::uuid[]) order by product_id for update
      ), enough as (
        select count(*) = ${wanted.length} as ok
        from wanted w join locked l using (product_id) where l.stock >= w.quantity
      ), inserted as (
        insert into reservations (order_id, expire_time)
        select ${orderId}, now() + ${ttlSeconds}::int * interval '1 second' from enough where ok
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
        })}
      ), recorded as (
        insert into reservation_items (order_id, product_id, quantity, unit_price_cents)
        select ${orderId}, w.product_id, w.quantity, p.price_cents
        from wanted w join products p on p.id = w.product_id
        where exists (select from inserted)
      )
      select w.product_id, w.quantity, l.stock as available, p.name, p.description,
        p.price_cents, i.create_time, i.expire_time
      from wanted w
        left join locked l using (product_id)
        left join products p on p.id = w.product_id
        left join inserted i on true
      order by w.product_id`,
    );
    const first = rows[0];
    if (first?.create_time) {
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
    // Nothing was inserted: the reservation exists already (a retry, which may find the stock
    // it took gone from the shelf), or some product is unknown or short.
    const existing = await this.#reserved(this.db, orderId);
    if (existing) return existing;
    const missing = rows.filter((r) => r.available === null).map((r) => r.product_id);
    if (missing.length > 0) return { refused: { reason: "unknown-products", productIds: missing } };
    const shortages = rows
      .filter((r) => (r.available ?? 0) < r.quantity)
      .map((r) => ({
        productId: r.product_id,
        available: r.available ?? 0,
        requested: r.quantity,
      }));
    if (shortages.length > 0) return { refused: { reason: "insufficient-stock", shortages } };
    // Every product had enough, yet nothing was inserted and nothing exists: cannot happen
    // (a same-id insert we waited for either committed, and is read above, or rolled back).
    throw new Error(`reservation ${orderId} was neither made nor found`);
  }

  /** An existing reservation with its products at the unit prices their stock was taken at. */
  async #reserved(db: Executor, orderId: string): Promise<ReserveOutcome | undefined> {
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

  /**
   * Pending → committed; committing again is a no-op; a released one cannot be. Commits asked
   * for at the same moment share one statement (group commit): each reservation's change is
   * its own and none depends on another, so the batch needs no all-or-nothing.
   */
  commit(orderId: string): Promise<ReservationOutcome> {
    return this.#commit(orderId);
  }

  readonly #commit = batched<string, ReservationOutcome>((ids) => this.#commitMany(ids), {
    maxBatch: 200,
    missing: () => ({ refused: { reason: "no-reservation" } }),
  });

  /** One statement: the updates (locked in order-id order) and a read of each with its items. */
  async #commitMany(orderIds: readonly string[]): Promise<Map<string, ReservationOutcome>> {
    const ids = pgArray(orderIds);
    const rows = await executeRows<{
      order_id: string;
      changed: boolean;
      state: ReservationState;
      create_time: string | Date;
      expire_time: string | Date;
      items: ItemQuantity[] | string;
    }>(
      this.db,
      sql`with locked as (
        select order_id from reservations
        where order_id = any(${ids}::uuid[]) and state = 'pending'
        order by order_id for update
      ), changed as (
        update reservations r set state = 'committed', update_time = now()
        from locked l where r.order_id = l.order_id and r.state = 'pending'
        returning r.order_id
      )
      select r.order_id, exists (select from changed c where c.order_id = r.order_id) as changed,
        r.state, r.create_time, r.expire_time,
        coalesce((
          select json_agg(json_build_object('productId', product_id, 'quantity', quantity)
            order by product_id)
          from reservation_items where order_id = r.order_id
        ), '[]') as items
      from reservations r where r.order_id = any(${ids}::uuid[])`,
    );
    const outcomes = new Map<string, ReservationOutcome>();
    for (const row of rows) {
      if (!row.changed && row.state !== "committed") {
        // The row was read as of the statement's start: a commit or release that landed since
        // is only visible to a fresh read.
        const record = await readReservation(this.db, row.order_id);
        // A returned reservation was committed before its order was cancelled: a late commit
        // (a retry, recovery) finds it past commit, which is what it asked for.
        outcomes.set(
          row.order_id,
          record && (record.state === "committed" || record.state === "returned")
            ? { reservation: record }
            : { refused: { reason: "wrong-state", state: record?.state ?? row.state } },
        );
        continue;
      }
      const items = typeof row.items === "string" ? JSON.parse(row.items) : row.items;
      outcomes.set(row.order_id, {
        reservation: {
          orderId: row.order_id,
          state: "committed",
          items,
          createTime: new Date(row.create_time),
          expireTime: new Date(row.expire_time),
        },
      });
    }
    return outcomes;
  }

  /**
   * Pending → released, putting its stock back exactly once; releasing again is a no-op.
   * A committed reservation is sold and stays so.
   */
  async releaseStock(orderId: string): Promise<ReservationOutcome> {
    return this.#transaction(async (tx) => {
      // The stock rows first, in product-id order, as reserve takes them: a reserve retried
      // for the same order holds them while its insert waits for this reservation's row, so
      // taking the reservation's row first would deadlock with it.
      const held = (await readReservation(tx, orderId))?.items ?? [];
      if (held.length > 0) {
        await tx.execute(
          sql`select from product_stock
            where product_id = any(${pgArray(held.map((item) => item.productId))}::uuid[])
            order by product_id for update`,
        );
      }
      const changed = await tx
        .update(reservations)
        .set({ state: "released", updateTime: sql`now()` })
        .where(and(eq(reservations.orderId, orderId), eq(reservations.state, "pending")))
        .returning({ orderId: reservations.orderId });
      const record = await readReservation(tx, orderId);
      if (!record) return { refused: { reason: "no-reservation" } };
      if (changed.length === 0) {
        if (record.state === "committed" || record.state === "returned") {
          return { refused: { reason: "wrong-state", state: record.state } };
        }
        return { reservation: record };
      }
      // Items come back sorted by product id: the same lock order as reserve.
      const events: EventRecord[] = [];
      for (const { productId, quantity } of record.items) {
        const [row] = await tx
          .update(productStock)
          .set({
            stock: sql`${productStock.stock} + ${quantity}`,
            eventSeq: sql`${productStock.eventSeq} + 1`,
          })
          .where(eq(productStock.productId, productId))
          .returning({ stock: productStock.stock, eventSeq: productStock.eventSeq });
        if (row) {
          events.push(
            stockChanged({ productId, stock: row.stock, delta: quantity, orderId }, row.eventSeq),
          );
        }
      }
      await recordEvents(tx, events);
      return { reservation: record };
    });
  }

  /**
   * Committed → returned, putting back exactly the reservation's items, once, in one
   * transaction with the state change: the order service calls it when it cancels the order.
   * Returning again (or a concurrent duplicate, which waits on the reservation's row lock)
   * answers the returned reservation and changes nothing. A pending reservation is refused
   * (the order service commits it first), as is a released one (its stock went back already).
   */
  async returnStock(orderId: string): Promise<ReservationOutcome> {
    return this.#transaction(async (tx) => {
      // The stock rows first, in product-id order, as reserve and release take them (taking
      // the reservation's row first would deadlock with a reserve retried for this order).
      const held = (await readReservation(tx, orderId))?.items ?? [];
      if (held.length > 0) {
        await tx.execute(
          sql`select from product_stock
            where product_id = any(${pgArray(held.map((item) => item.productId))}::uuid[])
            order by product_id for update`,
        );
      }
      const changed = await tx
        .update(reservations)
        .set({ state: "returned", updateTime: sql`now()` })
        .where(and(eq(reservations.orderId, orderId), eq(reservations.state, "committed")))
        .returning({ orderId: reservations.orderId });
      const record = await readReservation(tx, orderId);
      if (!record) return { refused: { reason: "no-reservation" } };
      if (changed.length === 0) {
        if (record.state === "returned") return { reservation: record };
        return { refused: { reason: "wrong-state", state: record.state } };
      }
      // Every item back in one statement; each product's StockChanged (+quantity, this order).
      const rows = await executeRows<{
        product_id: string;
        stock: number;
        event_seq: string | number;
        quantity: number;
      }>(
        tx,
        sql`update product_stock s
          set stock = s.stock + i.quantity, event_seq = s.event_seq + 1
          from reservation_items i
          where i.order_id = ${orderId} and s.product_id = i.product_id
          returning s.product_id, s.stock, s.event_seq, i.quantity`,
      );
      await recordEvents(
        tx,
        rows.map((row) =>
          stockChanged(
            { productId: row.product_id, stock: row.stock, delta: row.quantity, orderId },
            Number(row.event_seq),
          ),
        ),
      );
      return { reservation: record };
    });
  }

  /**
   * Claims up to `limit` pending reservations expired at `now`, oldest first, for one sweeper
   * pass: each one's expiry moves to when it should be looked at again, so a claimed reservation
   * whose outcome stays unknown waits that long (a backoff), and a sweeper that dies mid-pass
   * only delays it. SKIP LOCKED lets replicas sweeping at once take disjoint batches.
   * The wait is the time the reservation has been in doubt (past `createTime + ttlSeconds`),
   * within [minWaitSeconds, maxWaitSeconds], times a jitter in [0.5, 1): exponential backoff.
   */
  async claimExpired(
    now: Date,
    limit: number,
    wait: { ttlSeconds: number; minWaitSeconds: number; maxWaitSeconds: number },
  ): Promise<string[]> {
    const inDoubtSeconds = sql`extract(epoch from ${now.toISOString()}::timestamptz - ${reservations.createTime}) - ${wait.ttlSeconds}::int`;
    const waitSeconds = sql`least(${wait.maxWaitSeconds}::int, greatest(${wait.minWaitSeconds}::int, ${inDoubtSeconds})) * (0.5 + random() / 2)`;
    const due = this.db
      .select({ orderId: reservations.orderId })
      .from(reservations)
      .where(and(eq(reservations.state, "pending"), lte(reservations.expireTime, now)))
      .orderBy(asc(reservations.expireTime))
      .limit(limit)
      .for("update", { skipLocked: true });
    const rows = await this.db
      .update(reservations)
      .set({
        expireTime: sql`${now.toISOString()}::timestamptz + ${waitSeconds} * interval '1 second'`,
      })
      .where(and(inArray(reservations.orderId, due), eq(reservations.state, "pending")))
      .returning({ orderId: reservations.orderId, createTime: reservations.createTime });
    return rows
      .sort((a, b) => a.createTime.getTime() - b.createTime.getTime())
      .map((row) => row.orderId);
  }

  /**
   * Stock held by pending reservations older than `ttlSeconds` at `now` (their order's outcome
   * was not known when they expired): units, and how long the oldest has been past its TTL.
   */
  async inDoubt(now: Date, ttlSeconds: number): Promise<{ units: number; oldestSeconds: number }> {
    const [row] = await this.db
      .select({
        units: sql<number>`coalesce(sum(${reservationItems.quantity}), 0)::int`,
        oldestSeconds: sql<number>`coalesce(max(extract(epoch from ${now.toISOString()}::timestamptz - ${reservations.createTime})), ${ttlSeconds}::int)::float8 - ${ttlSeconds}::int`,
      })
      .from(reservations)
      .innerJoin(reservationItems, eq(reservationItems.orderId, reservations.orderId))
      .where(
        and(
          eq(reservations.state, "pending"),
          lte(
            reservations.createTime,
            sql`${now.toISOString()}::timestamptz - ${ttlSeconds}::int * interval '1 second'`,
          ),
        ),
      );
    return { units: row?.units ?? 0, oldestSeconds: Math.max(0, row?.oldestSeconds ?? 0) };
  }

  /** A retrying transaction whose refusals roll back and come out as plain values. */
  async #transaction(work: (tx: Tx) => Promise<ReservationOutcome>): Promise<ReservationOutcome> {
    try {
      return await retryingTransaction(this.db, work);
    } catch (error) {
      if (error instanceof Refused) return { refused: error.refusal };
      throw error;
    }
  }
}
