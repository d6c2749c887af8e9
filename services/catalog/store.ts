// All SQL of the catalog service. It speaks in plain records, never protobuf messages.
import { and, asc, eq, gte, inArray, isNull, lte, sql } from "drizzle-orm";
import {
  type Database,
  executeRows,
  PG_DEADLOCK_DETECTED,
  PG_SERIALIZATION_FAILURE,
  pgErrorCode,
} from "../../platform/database.js";
import { uuidv7 } from "../../platform/ids.js";
import { type ItemQuantity, mergeItems } from "./domain.js";
import * as schema from "./schema.js";

const { products, reservations, reservationItems, searchOutbox } = schema;

export type CatalogDb = Database<typeof schema>;
type Tx = Parameters<Parameters<CatalogDb["transaction"]>[0]>[0];
type Executor = CatalogDb | Tx;

/** A product as the store hands it out: every column but the search vector. */
export interface ProductRecord {
  id: string;
  name: string;
  description: string;
  priceCents: number;
  stock: number;
  createTime: Date;
}

export interface NewProduct {
  name: string;
  description: string;
  priceCents: number;
  stock: number;
}

export type ReservationState = (typeof schema.reservations.$inferSelect)["state"];

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

export interface OutboxEntry {
  id: number;
  productId: string;
  attempts: number;
}

/** Some products of a reservation do not exist. */
export class ProductsNotFoundError extends Error {
  override name = "ProductsNotFoundError";
  constructor(readonly productIds: string[]) {
    super(`unknown products: ${productIds.join(", ")}`);
  }
}

/** Some products of a reservation have too little stock; nothing was taken. */
export class InsufficientStockError extends Error {
  override name = "InsufficientStockError";
  constructor(readonly shortages: Shortage[]) {
    super(`too little stock for ${shortages.map((s) => s.productId).join(", ")}`);
  }
}

export class ReservationNotFoundError extends Error {
  override name = "ReservationNotFoundError";
  constructor(readonly orderId: string) {
    super(`no reservation for order ${orderId}`);
  }
}

/** The reservation is already in a state the requested change cannot leave. */
export class ReservationStateError extends Error {
  override name = "ReservationStateError";
  constructor(
    readonly orderId: string,
    readonly state: ReservationState,
  ) {
    super(`reservation for order ${orderId} is already ${state}`);
  }
}

const productColumns = {
  id: products.id,
  name: products.name,
  description: products.description,
  priceCents: products.priceCents,
  stock: products.stock,
  createTime: products.createTime,
};

// Product inserts take this transaction-scoped lock and stamp create_time inside it, so
// products commit in creation order: a reader paging oldest-first never sees a product
// appear before one it has already passed. Creating products is rare; reading is not.
const productInsertLockKey = 7_305_722_052;

const retryableCodes = new Set([PG_SERIALIZATION_FAILURE, PG_DEADLOCK_DETECTED]);

export interface CatalogStoreOptions {
  /** Write a search_outbox row with every product write (OpenSearch is configured). */
  outbox?: boolean;
}

export class CatalogStore {
  readonly #outbox: boolean;

  constructor(
    private readonly db: CatalogDb,
    options: CatalogStoreOptions = {},
  ) {
    this.#outbox = options.outbox ?? false;
  }

  // Products

  async createProduct(input: NewProduct): Promise<ProductRecord> {
    const [record] = await this.createProducts([input]);
    if (!record) throw new Error("insert returned no row");
    return record;
  }

  /**
   * Inserts products in the given order, as one transaction; with `onlyIntoEmpty`, only when
   * the catalog has no product yet (two processes seeding at once insert once).
   */
  async createProducts(
    inputs: readonly NewProduct[],
    options: { onlyIntoEmpty?: boolean } = {},
  ): Promise<ProductRecord[]> {
    if (inputs.length === 0) return [];
    return this.#transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${productInsertLockKey})`);
      if (options.onlyIntoEmpty) {
        const [any] = await tx.select({ id: products.id }).from(products).limit(1);
        if (any) return [];
      }
      const created: ProductRecord[] = [];
      // One statement per 500 rows keeps far below PostgreSQL's 65,535 parameters.
      for (let i = 0; i < inputs.length; i += 500) {
        const rows = await tx
          .insert(products)
          .values(
            inputs.slice(i, i + 500).map((input) => ({
              id: uuidv7(),
              ...input,
              // clock_timestamp() advances row by row, unlike now(): each row its own instant.
              createTime: sql`clock_timestamp()`,
              updateTime: sql`clock_timestamp()`,
            })),
          )
          .returning(productColumns);
        created.push(...rows);
      }
      await this.#enqueue(
        tx,
        created.map((p) => p.id),
      );
      // RETURNING keeps no promise about order; the caller gave one.
      return created.sort((a, b) => compareCreation(a, b));
    });
  }

  async findById(id: string): Promise<ProductRecord | undefined> {
    const [row] = await this.db.select(productColumns).from(products).where(eq(products.id, id));
    return row;
  }

  /** The products that exist among `ids`, in no particular order. */
  async findByIds(ids: readonly string[]): Promise<ProductRecord[]> {
    if (ids.length === 0) return [];
    return this.db
      .select(productColumns)
      .from(products)
      .where(inArray(products.id, [...ids]));
  }

  /** Oldest first; ids (time-ordered) break ties. */
  async list(skip: number, take: number): Promise<ProductRecord[]> {
    return this.db
      .select(productColumns)
      .from(products)
      .orderBy(asc(products.createTime), asc(products.id))
      .offset(skip)
      .limit(take);
  }

  /**
   * Full-text search, best match first: products whose name matches the whole query come
   * before those that match only with their description, then by ts_rank, then by id so
   * that pages are stable.
   */
  async search(query: string, skip: number, take: number): Promise<ProductRecord[]> {
    return this.searchQuery(query, skip, take);
  }

  /** The search statement itself, unexecuted: the benchmark EXPLAINs exactly this. */
  searchQuery(query: string, skip: number, take: number) {
    const tsquery = sql`websearch_to_tsquery('english'::regconfig, ${query})`;
    return this.db
      .select(productColumns)
      .from(products)
      .where(sql`${products.search} @@ ${tsquery}`)
      .orderBy(
        sql`(ts_filter(${products.search}, '{a}') @@ ${tsquery}) desc`,
        sql`ts_rank(${products.search}, ${tsquery}) desc`,
        asc(products.id),
      )
      .offset(skip)
      .limit(take);
  }

  async countProducts(): Promise<number> {
    const [row] = await this.db.select({ count: sql<number>`count(*)::int` }).from(products);
    return row?.count ?? 0;
  }

  async updateProduct(
    id: string,
    changes: Partial<NewProduct>,
  ): Promise<ProductRecord | undefined> {
    return this.#transaction(async (tx) => {
      const [row] = await tx
        .update(products)
        .set({ ...changes, updateTime: sql`now()` })
        .where(eq(products.id, id))
        .returning(productColumns);
      if (row) await this.#enqueue(tx, [row.id]);
      return row;
    });
  }

  // Reservations

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
  ): Promise<ReservationRecord> {
    const wanted = mergeItems(items);
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
        const existing = await readReservation(tx, orderId);
        if (!existing) throw new Error(`reservation ${orderId} vanished`);
        return existing;
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
      if (missing.length > 0) throw new ProductsNotFoundError(missing);
      if (shortages.length > 0) throw new InsufficientStockError(shortages);
      await tx.insert(reservationItems).values(wanted.map((item) => ({ orderId, ...item })));
      const created = await readReservation(tx, orderId);
      if (!created) throw new Error(`reservation ${orderId} vanished`);
      return created;
    });
  }

  async findReservation(orderId: string): Promise<ReservationRecord | undefined> {
    return readReservation(this.db, orderId);
  }

  /** Pending → committed; committing again is a no-op; a released one cannot be. */
  async commitReservation(orderId: string): Promise<ReservationRecord> {
    return this.#transaction(async (tx) => {
      const changed = await tx
        .update(reservations)
        .set({ state: "committed", updateTime: sql`now()` })
        .where(and(eq(reservations.orderId, orderId), eq(reservations.state, "pending")))
        .returning({ orderId: reservations.orderId });
      const record = await readReservation(tx, orderId);
      if (!record) throw new ReservationNotFoundError(orderId);
      if (changed.length === 0 && record.state !== "committed") {
        throw new ReservationStateError(orderId, record.state);
      }
      return record;
    });
  }

  /**
   * Pending → released, putting its stock back exactly once; releasing again is a no-op.
   * A committed reservation is sold and stays so.
   */
  async releaseReservation(orderId: string): Promise<ReservationRecord> {
    return this.#transaction(async (tx) => {
      const changed = await tx
        .update(reservations)
        .set({ state: "released", updateTime: sql`now()` })
        .where(and(eq(reservations.orderId, orderId), eq(reservations.state, "pending")))
        .returning({ orderId: reservations.orderId });
      const record = await readReservation(tx, orderId);
      if (!record) throw new ReservationNotFoundError(orderId);
      if (changed.length === 0) {
        if (record.state === "committed") throw new ReservationStateError(orderId, record.state);
        return record;
      }
      // Items come back sorted by product id: the same lock order as reserve.
      for (const { productId, quantity } of record.items) {
        await tx
          .update(products)
          .set({ stock: sql`${products.stock} + ${quantity}`, updateTime: sql`now()` })
          .where(eq(products.id, productId));
      }
      return record;
    });
  }

  /** Order ids of pending reservations whose expiry is at or before `now`, oldest first. */
  async expiredReservations(now: Date, limit: number): Promise<string[]> {
    const rows = await this.db
      .select({ orderId: reservations.orderId })
      .from(reservations)
      .where(and(eq(reservations.state, "pending"), lte(reservations.expireTime, now)))
      .orderBy(asc(reservations.expireTime))
      .limit(limit);
    return rows.map((r) => r.orderId);
  }

  // Search outbox

  /** Outbox rows due at `now`, oldest first. */
  async dueOutbox(limit: number, now: Date = new Date()): Promise<OutboxEntry[]> {
    return this.db
      .select({
        id: searchOutbox.id,
        productId: searchOutbox.productId,
        attempts: searchOutbox.attempts,
      })
      .from(searchOutbox)
      .where(and(isNull(searchOutbox.doneTime), lte(searchOutbox.nextAttemptTime, now)))
      .orderBy(asc(searchOutbox.id))
      .limit(limit);
  }

  async completeOutbox(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .update(searchOutbox)
      .set({ doneTime: sql`now()` })
      .where(inArray(searchOutbox.id, [...ids]));
  }

  /** Counts a failed push and backs off: 2^attempts seconds, at most 5 minutes. */
  async failOutbox(ids: readonly number[], error: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .update(searchOutbox)
      .set({
        attempts: sql`${searchOutbox.attempts} + 1`,
        lastError: error.slice(0, 2000),
        nextAttemptTime: sql`now() + least(power(2, ${searchOutbox.attempts}), 300) * interval '1 second'`,
      })
      .where(inArray(searchOutbox.id, [...ids]));
  }

  /** Forgets outbox rows pushed more than a day ago. */
  async pruneOutbox(): Promise<void> {
    await this.db
      .delete(searchOutbox)
      .where(sql`${searchOutbox.doneTime} < now() - interval '1 day'`);
  }

  /** Queues every product for indexing, e.g. when the search index was just created. */
  async enqueueAllProducts(): Promise<number> {
    const rows = await executeRows<{ id: number }>(
      this.db,
      sql`insert into search_outbox (product_id)
          select id from products order by create_time, id
          returning id`,
    );
    return rows.length;
  }

  async #enqueue(tx: Tx, productIds: readonly string[]): Promise<void> {
    if (!this.#outbox || productIds.length === 0) return;
    for (let i = 0; i < productIds.length; i += 1000) {
      await tx
        .insert(searchOutbox)
        .values(productIds.slice(i, i + 1000).map((productId) => ({ productId })));
    }
  }

  /** A transaction, retried when PostgreSQL gives up on it (deadlock or serialization). */
  async #transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction(work);
      } catch (error) {
        const code = pgErrorCode(error);
        if (attempt >= 5 || code === undefined || !retryableCodes.has(code)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 5 * 2 ** attempt * Math.random()));
      }
    }
  }
}

function compareCreation(a: ProductRecord, b: ProductRecord): number {
  const byTime = a.createTime.getTime() - b.createTime.getTime();
  if (byTime !== 0) return byTime;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
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
