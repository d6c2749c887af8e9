// Stock reservations: taking stock for an order all or nothing, then committing (sold) or
// releasing (back to stock) it, each exactly once however often it is asked.
import { and, asc, eq, gte, inArray, lte, sql } from "drizzle-orm";
import { type ItemQuantity, mergeInLockOrder } from "../domain.js";
import { products, reservationItems, reservations } from "../schema.js";
import { type CatalogDb, type Executor, retryingTransaction, type Tx } from "./db.js";

export type ReservationState = (typeof reservations.$inferSelect)["state"];

export interface ReservationRecord {
  orderId: string;
  state: ReservationState;
  items: ItemQuantity[];
  createTime: Date;
  expireTime: Date;
}

export interface Shortage {
  productId: string;
  available: number;
  requested: number;
}

/** Why the store said no; nothing was changed. */
export type ReservationRefusal =
  /** Some products of a reservation do not exist. */
  | { reason: "unknown-products"; productIds: string[] }
  /** Some products have too little stock. */
  | { reason: "insufficient-stock"; shortages: Shortage[] }
  | { reason: "no-reservation" }
  /** The reservation is already in a state the change cannot leave. */
  | { reason: "wrong-state"; state: ReservationState };

export type ReservationOutcome =
  | { reservation: ReservationRecord }
  | { refused: ReservationRefusal };

/** Thrown inside a transaction to roll it back, caught right outside it. */
class Refused extends Error {
  constructor(readonly refusal: ReservationRefusal) {
    super(refusal.reason);
  }
}

export class ReservationStore {
  constructor(private readonly db: CatalogDb) {}

  /**
   * Takes stock for `orderId`, all or nothing. The reservation row is inserted first: a
   * second call with the same order id waits on its primary key until the first commits
   * (and then reads that one) or rolls back (and then reserves itself). Stock is taken with
   * conditional decrements in product-id order, so parallel reservations never deadlock
   * and stock never goes below zero.
   */
  async reserve(
    orderId: string,
    items: readonly ItemQuantity[],
    ttlSeconds: number,
  ): Promise<ReservationOutcome> {
    const wanted = mergeInLockOrder(items);
    return this.#transaction(async (tx) => {
      const inserted = await tx
        .insert(reservations)
        .values({
          orderId,
          expireTime: sql`now() + ${ttlSeconds}::int * interval '1 second'`,
        })
        .onConflictDoNothing()
        .returning({ orderId: reservations.orderId });
      if (inserted.length === 0) {
        // READ COMMITTED: this new statement sees the reservation that won.
        return readExisting(tx, orderId);
      }
      const missing: string[] = [];
      const shortages: Shortage[] = [];
      for (const { productId, quantity } of wanted) {
        const taken = await tx
          .update(products)
          .set({ stock: sql`${products.stock} - ${quantity}`, updateTime: sql`now()` })
          .where(and(eq(products.id, productId), gte(products.stock, quantity)))
          .returning({ id: products.id });
        if (taken.length > 0) continue;
        const [current] = await tx
          .select({ stock: products.stock })
          .from(products)
          .where(eq(products.id, productId));
        if (!current) missing.push(productId);
        else shortages.push({ productId, available: current.stock, requested: quantity });
      }
      if (missing.length > 0)
        throw new Refused({ reason: "unknown-products", productIds: missing });
      if (shortages.length > 0) throw new Refused({ reason: "insufficient-stock", shortages });
      await tx.insert(reservationItems).values(wanted.map((item) => ({ orderId, ...item })));
      return readExisting(tx, orderId);
    });
  }

  /** Pending → committed; committing again is a no-op; a released one cannot be. */
  async commit(orderId: string): Promise<ReservationOutcome> {
    return this.#transaction(async (tx) => {
      const changed = await tx
        .update(reservations)
        .set({ state: "committed", updateTime: sql`now()` })
        .where(and(eq(reservations.orderId, orderId), eq(reservations.state, "pending")))
        .returning({ orderId: reservations.orderId });
      const record = await readReservation(tx, orderId);
      if (!record) return { refused: { reason: "no-reservation" } };
      if (changed.length === 0 && record.state !== "committed") {
        return { refused: { reason: "wrong-state", state: record.state } };
      }
      return { reservation: record };
    });
  }

  /**
   * Pending → released, putting its stock back exactly once; releasing again is a no-op.
   * A committed reservation is sold and stays so.
   */
  async releaseStock(orderId: string): Promise<ReservationOutcome> {
    return this.#transaction(async (tx) => {
      const changed = await tx
        .update(reservations)
        .set({ state: "released", updateTime: sql`now()` })
        .where(and(eq(reservations.orderId, orderId), eq(reservations.state, "pending")))
        .returning({ orderId: reservations.orderId });
      const record = await readReservation(tx, orderId);
      if (!record) return { refused: { reason: "no-reservation" } };
      if (changed.length === 0) {
        if (record.state === "committed") {
          return { refused: { reason: "wrong-state", state: record.state } };
        }
        return { reservation: record };
      }
      // Items come back sorted by product id: the same lock order as reserve.
      for (const { productId, quantity } of record.items) {
        await tx
          .update(products)
          .set({ stock: sql`${products.stock} + ${quantity}`, updateTime: sql`now()` })
          .where(eq(products.id, productId));
      }
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

async function readExisting(tx: Executor, orderId: string): Promise<ReservationOutcome> {
  const record = await readReservation(tx, orderId);
  if (!record) throw new Error(`reservation ${orderId} vanished`);
  return { reservation: record };
}

async function readReservation(
  db: Executor,
  orderId: string,
): Promise<ReservationRecord | undefined> {
  const [row] = await db.select().from(reservations).where(eq(reservations.orderId, orderId));
  if (!row) return undefined;
  const items = await db
    .select({ productId: reservationItems.productId, quantity: reservationItems.quantity })
    .from(reservationItems)
    .where(eq(reservationItems.orderId, orderId))
    .orderBy(asc(reservationItems.productId));
  return {
    orderId: row.orderId,
    state: row.state,
    items,
    createTime: row.createTime,
    expireTime: row.expireTime,
  };
}
