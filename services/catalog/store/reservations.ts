// Stock reservations: taking stock for an order all or nothing, then committing (sold) or
// releasing (back to stock) it, each exactly once however often it is asked. The reserve
// statement is store/reserve-statement.ts; the sweeper's reads of expired reservations are
// store/reservation-expiry.ts.
import { and, eq, sql } from "drizzle-orm";
import { batched } from "../../../platform/data/batcher.js";
import { executeRows, isDatabaseUnavailable, pgArray } from "../../../platform/data/database.js";
import { pipelinedTransaction } from "../../../platform/data/pipeline.js";
import { preparedRows } from "../../../platform/data/prepared.js";
import { type EventRecord, recordEvents } from "../../../platform/events/record.js";
import { type ItemQuantity, mergeInLockOrder } from "../domain.js";
import { stockChanged } from "../events.js";
import { productStock, reservations } from "../schema.js";
import { type CatalogDb, retryingOnConflict, retryingTransaction, type Tx } from "./db.js";
import { claimExpired, type ExpiryWait, inDoubt } from "./reservation-expiry.js";
import {
  type ReservationOutcome,
  type ReservationState,
  type ReserveOutcome,
  readReservation,
} from "./reservation-records.js";
import {
  lockStockStatement,
  madeReservation,
  type ReserveRow,
  readReserved,
  refusalOf,
  reserveStatement,
} from "./reserve-statement.js";

/** One order's ReserveStock. */
export interface ReserveRequest {
  orderId: string;
  items: readonly ItemQuantity[];
}

export class ReservationStore {
  constructor(private readonly db: CatalogDb) {}

  /**
   * Takes stock for `orderId`, all or nothing, in one statement (one round trip, its own
   * transaction): reserveStatement says how.
   */
  async reserve(
    orderId: string,
    items: readonly ItemQuantity[],
    ttlSeconds: number,
  ): Promise<ReserveOutcome> {
    const wanted = mergeInLockOrder(items);
    const rows = await preparedRows<ReserveRow>(
      this.db,
      reserveStatement(orderId, wanted, ttlSeconds),
    );
    return this.#outcome(orderId, wanted, rows);
  }

  /**
   * `reserve` for several orders in one transaction (group commit: one round trip, one WAL
   * flush), each order still all or nothing on its own: its statement takes all its stock or
   * none, and sees the stock the orders before it left. Outcomes in request order. Should a
   * statement fail (not refuse), each order is reserved alone instead, so that only its own
   * answer is the error.
   */
  async reserveMany(
    requests: readonly ReserveRequest[],
    ttlSeconds: number,
  ): Promise<ReserveOutcome[]> {
    const planned = requests.map((request) => ({
      orderId: request.orderId,
      wanted: mergeInLockOrder(request.items),
    }));
    const lock = lockStockStatement(planned.flatMap((p) => p.wanted.map((w) => w.productId)));
    let results: Record<string, unknown>[][];
    try {
      results = await retryingOnConflict(() =>
        pipelinedTransaction(this.db, [
          lock,
          ...planned.map((p) => reserveStatement(p.orderId, p.wanted, ttlSeconds)),
        ]),
      );
    } catch (error) {
      if (isDatabaseUnavailable(error)) throw error;
      return Promise.all(requests.map((r) => this.reserve(r.orderId, r.items, ttlSeconds)));
    }
    return Promise.all(
      planned.map((p, i) =>
        this.#outcome(p.orderId, p.wanted, (results[i + 1] ?? []) as unknown as ReserveRow[]),
      ),
    );
  }

  /**
   * What a reserve statement's rows answer. Nothing inserted: the reservation exists already
   * (a retry, which may find the stock it took gone from the shelf), or some product is
   * unknown or short.
   */
  async #outcome(
    orderId: string,
    wanted: ItemQuantity[],
    rows: readonly ReserveRow[],
  ): Promise<ReserveOutcome> {
    const made = madeReservation(orderId, wanted, rows);
    if (made) return made;
    const existing = await readReserved(this.db, orderId);
    if (existing) return existing;
    const refused = refusalOf(rows);
    if (refused) return { refused };
    // Every product had enough, yet nothing was inserted and nothing exists: cannot happen
    // (a same-id insert we waited for either committed, and is read above, or rolled back).
    throw new Error(`reservation ${orderId} was neither made nor found`);
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
    const rows = await preparedRows<{
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
      await lockHeldStock(tx, orderId);
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
      await lockHeldStock(tx, orderId);
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

  /** The sweeper's claim on expired reservations (store/reservation-expiry.ts). */
  claimExpired(now: Date, limit: number, wait: ExpiryWait): Promise<string[]> {
    return claimExpired(this.db, now, limit, wait);
  }

  /** Stock held by reservations past their TTL (store/reservation-expiry.ts). */
  inDoubt(now: Date, ttlSeconds: number) {
    return inDoubt(this.db, now, ttlSeconds);
  }

  #transaction(work: (tx: Tx) => Promise<ReservationOutcome>): Promise<ReservationOutcome> {
    return retryingTransaction(this.db, work);
  }
}

/**
 * Locks the stock rows of `orderId`'s reservation, in product-id order, before its own row: a
 * reserve retried for the same order holds them while its insert waits for the reservation's
 * row, so taking the reservation's row first would deadlock with it.
 */
async function lockHeldStock(tx: Tx, orderId: string): Promise<void> {
  const held = (await readReservation(tx, orderId))?.items ?? [];
  if (held.length === 0) return;
  await tx.execute(
    sql`select from product_stock
      where product_id = any(${pgArray(held.map((item) => item.productId))}::uuid[])
      order by product_id for update`,
  );
}
