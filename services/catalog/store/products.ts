// Products: creating, reading, listing and updating them (searching them: store/search.ts).
import { asc, eq, sql } from "drizzle-orm";
import { batched, batchedByUuid } from "../../../platform/data/batcher.js";
import { pgArray } from "../../../platform/data/database.js";
import { uuidv7 } from "../../../platform/data/ids.js";
import { type EventRecord, recordEvents } from "../../../platform/events/record.js";
import { productCreated, productUpdated, stockChanged } from "../events.js";
import { productStock, products } from "../schema.js";
import { type CatalogDb, retryingTransaction } from "./db.js";

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

export const productColumns = {
  id: products.id,
  name: products.name,
  description: products.description,
  priceCents: products.priceCents,
  stock: productStock.stock,
  createTime: products.createTime,
};

/** Products with their stock (its own table: schema.ts says why). */
export const withStock = eq(productStock.productId, products.id);

// Product inserts take this transaction-scoped lock and stamp create_time inside it, so
// products commit in creation order: a reader paging oldest-first never sees a product
// appear before one it has already passed. Creating products is rare; reading is not.
const productInsertLockKey = 7_305_722_052;

export class ProductStore {
  // The hot reads, built once: drizzle then only fills in the parameters on each call instead
  // of building the SQL again (that was ~13% of the catalog's CPU serving GetProduct).
  readonly #byId;
  readonly #byIds;
  readonly #page;

  constructor(private readonly db: CatalogDb) {
    const withStockFrom = () =>
      db.select(productColumns).from(products).innerJoin(productStock, withStock);
    this.#byId = withStockFrom()
      .where(eq(products.id, sql.placeholder("id")))
      .prepare("catalog_product_by_id");
    this.#byIds = withStockFrom()
      .where(sql`${products.id} = any(${sql.placeholder("ids")}::uuid[])`)
      .prepare("catalog_products_by_ids");
    this.#page = withStockFrom()
      .orderBy(asc(products.createTime), asc(products.id))
      .offset(sql.placeholder("skip"))
      .limit(sql.placeholder("take"))
      .prepare("catalog_products_page");
  }

  async create(input: NewProduct): Promise<ProductRecord> {
    const [record] = await this.createMany([input]);
    if (!record) throw new Error("insert returned no row");
    return record;
  }

  /**
   * Inserts products in the given order, as one transaction; with `onlyIntoEmpty`, only when
   * the catalog has no product yet (two processes seeding at once insert once).
   */
  async createMany(
    inputs: readonly NewProduct[],
    options: { onlyIntoEmpty?: boolean } = {},
  ): Promise<ProductRecord[]> {
    if (inputs.length === 0) return [];
    return retryingTransaction(this.db, async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${productInsertLockKey})`);
      if (options.onlyIntoEmpty) {
        const [any] = await tx.select({ id: products.id }).from(products).limit(1);
        if (any) return [];
      }
      const created: ProductRecord[] = [];
      // One statement per 500 rows keeps far below PostgreSQL's 65,535 parameters.
      for (let i = 0; i < inputs.length; i += 500) {
        const batch = inputs.slice(i, i + 500).map((input) => ({ id: uuidv7(), ...input }));
        const rows = await tx
          .insert(products)
          .values(
            batch.map(({ stock: _, ...product }) => ({
              ...product,
              // clock_timestamp() advances row by row, unlike now(): each row its own instant.
              createTime: sql`clock_timestamp()`,
              updateTime: sql`clock_timestamp()`,
            })),
          )
          .returning({
            id: products.id,
            name: products.name,
            description: products.description,
            priceCents: products.priceCents,
            createTime: products.createTime,
          });
        // ProductCreated is each product's event 1.
        await tx
          .insert(productStock)
          .values(batch.map(({ id, stock }) => ({ productId: id, stock, eventSeq: 1 })));
        const stockOf = new Map(batch.map(({ id, stock }) => [id, stock]));
        created.push(...rows.map((row) => ({ ...row, stock: stockOf.get(row.id) ?? 0 })));
      }
      await recordEvents(
        tx,
        created.map((product) => productCreated(product, 1)),
      );
      // RETURNING keeps no promise about order; the caller gave one.
      return created.sort(compareCreation);
    });
  }

  /**
   * One product. Lookups asked for in the same turn of the event loop share one statement
   * (under load, one query answers dozens of GetProduct calls); a lone lookup runs alone.
   */
  findById(id: string): Promise<ProductRecord | undefined> {
    return this.#findById(id);
  }

  readonly #findById = batchedByUuid<ProductRecord | undefined>(
    async (ids) => {
      const rows =
        ids.length === 1 ? await this.#byId.execute({ id: ids[0] }) : await this.findByIds(ids);
      return new Map(rows.map((row) => [row.id, row]));
    },
    { maxBatch: 500, missing: () => undefined },
  );

  /** The products that exist among `ids`, in no particular order. */
  async findByIds(ids: readonly string[]): Promise<ProductRecord[]> {
    if (ids.length === 0) return [];
    return this.#byIds.execute({ ids: pgArray(ids) });
  }

  /**
   * Oldest first; ids (time-ordered) break ties. The same page asked for several times in one
   * turn of the event loop (the first page, mostly) is read once for all of them.
   */
  list(skip: number, take: number): Promise<readonly ProductRecord[]> {
    return this.#list(`${skip}:${take}`);
  }

  readonly #list = batched<string, readonly ProductRecord[]>(
    async (pages) => {
      const read = pages.map(async (page) => {
        const [skip, take] = page.split(":").map(Number);
        return [page, await this.#page.execute({ skip, take })] as const;
      });
      return new Map(await Promise.all(read));
    },
    { maxBatch: 100, missing: () => [] },
  );

  async count(): Promise<number> {
    const [row] = await this.db.select({ count: sql<number>`count(*)::int` }).from(products);
    return row?.count ?? 0;
  }

  /**
   * Applies `changes` and records ProductUpdated, and StockChanged when the stock moved, with
   * the product's next sequence numbers (its stock row is locked first, as a reservation
   * would lock it).
   */
  async update(id: string, changes: Partial<NewProduct>): Promise<ProductRecord | undefined> {
    const { stock, ...productChanges } = changes;
    return retryingTransaction(this.db, async (tx) => {
      const [before] = await tx
        .select({ stock: productStock.stock, eventSeq: productStock.eventSeq })
        .from(productStock)
        .where(eq(productStock.productId, id))
        .for("update");
      if (!before) return undefined;
      const delta = stock === undefined ? 0 : stock - before.stock;
      await tx
        .update(products)
        .set({ ...productChanges, updateTime: sql`now()` })
        .where(eq(products.id, id));
      await tx
        .update(productStock)
        .set({ stock: stock ?? before.stock, eventSeq: before.eventSeq + (delta === 0 ? 1 : 2) })
        .where(eq(productStock.productId, id));
      const [row] = await tx
        .select(productColumns)
        .from(products)
        .innerJoin(productStock, withStock)
        .where(eq(products.id, id));
      if (!row) return undefined;
      const events: EventRecord[] = [productUpdated(row, before.eventSeq + 1)];
      if (delta !== 0) {
        events.push(stockChanged({ productId: id, stock: row.stock, delta }, before.eventSeq + 2));
      }
      await recordEvents(tx, events);
      return row;
    });
  }
}

function compareCreation(a: ProductRecord, b: ProductRecord): number {
  const byTime = a.createTime.getTime() - b.createTime.getTime();
  if (byTime !== 0) return byTime;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
