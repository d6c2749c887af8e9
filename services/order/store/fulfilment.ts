// A placed order's life after checkout: shipping and cancelling it, each one transaction, and
// the marker of a cancelled order whose stock the catalog has not yet taken back. Each change
// records its event (OrderCancelled, OrderShipped) in its own transaction.
import { and, asc, eq, lt, sql } from "drizzle-orm";
import { recordEvents } from "../../../platform/events/record.js";
import { transitionEvent } from "../events.js";
import type { OrderRecord } from "../records.js";
import { orders } from "../schema.js";
import { ago, type OrderDb, type Tx } from "./db.js";
import { readOrder } from "./orders.js";

/**
 * What a ship or cancel found and did: the order as it now is, and whether this call changed
 * it (not when it was no longer PLACED, or not the caller's own); when it did, whether the
 * order's reservation commit had reached the catalog (orders.settled).
 */
export type Transition =
  | { order: OrderRecord; changed: true; settled: boolean; sequence: number }
  | { order: OrderRecord; changed: false };

/** A cancelled order whose stock is still to go back to the catalog. */
export interface PendingReturn {
  id: string;
  settled: boolean;
}

export class FulfilmentStore {
  constructor(private readonly db: OrderDb) {}

  /**
   * PLACED → CANCELLED with `reason`, the stock's return marked pending, in one transaction.
   * With `ownerId` (a customer cancelling) someone else's order stays unchanged. Undefined
   * when no placed order has this id.
   */
  cancel(
    id: string,
    options: { reason: string | null; ownerId?: string | undefined },
  ): Promise<Transition | undefined> {
    return this.db.transaction(async (tx) => {
      const transition = await change(
        tx,
        id,
        { fulfilment: "cancelled", cancelReason: options.reason, returnPending: true },
        options.ownerId,
      );
      return recorded(tx, transition);
    });
  }

  /** PLACED → SHIPPED, in one transaction. Undefined when no placed order has this id. */
  ship(id: string): Promise<Transition | undefined> {
    return this.db.transaction(async (tx) => {
      const transition = await change(tx, id, { fulfilment: "shipped" }, undefined);
      return recorded(tx, transition);
    });
  }

  /** The catalog has the cancelled order's stock back. */
  async markReturned(id: string): Promise<void> {
    await this.db
      .update(orders)
      .set({ returnPending: false })
      .where(and(eq(orders.id, id), eq(orders.returnPending, true)));
  }

  /** Cancelled orders whose return is unsettled and untouched for `olderThanMs`, oldest first. */
  async pendingReturns(olderThanMs: number, limit: number): Promise<PendingReturn[]> {
    return this.db
      .select({ id: orders.id, settled: orders.settled })
      .from(orders)
      .where(and(eq(orders.returnPending, true), lt(orders.updateTime, ago(olderThanMs))))
      .orderBy(asc(orders.updateTime))
      .limit(limit);
  }
}

/** The transition, its event written through `tx` when it changed the order. */
async function recorded(tx: Tx, transition: Transition | undefined) {
  if (transition?.changed) {
    await recordEvents(tx, [transitionEvent(transition.order, transition.sequence)]);
  }
  return transition;
}

/**
 * Moves a PLACED order to `set` and reads it back. The update's condition decides a race
 * between a ship and a cancel (or two of either): PostgreSQL re-checks `fulfilment = 'placed'`
 * once it holds the row's lock, so exactly one of them changes the row and the others find it
 * changed.
 */
async function change(
  tx: Tx,
  id: string,
  set: Partial<typeof orders.$inferInsert>,
  ownerId: string | undefined,
): Promise<Transition | undefined> {
  const [row] = await tx
    .update(orders)
    .set({ ...set, updateTime: sql`now()`, eventSeq: sql`${orders.eventSeq} + 1` })
    .where(
      and(
        eq(orders.id, id),
        eq(orders.status, "confirmed"),
        eq(orders.fulfilment, "placed"),
        ownerId === undefined ? undefined : eq(orders.accountId, ownerId),
      ),
    )
    .returning({ settled: orders.settled, sequence: orders.eventSeq });
  const order = await readOrder(tx, id);
  if (!order) return undefined;
  if (row) return { order, changed: true, settled: row.settled, sequence: Number(row.sequence) };
  return { order, changed: false };
}
