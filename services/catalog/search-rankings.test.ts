// Remembered search rankings (store/search.ts) with two catalog replicas on one database: what
// one replica changes in a product's text, the other's next search sees; stock and price leave
// the rankings alone; a warm ranking answers exactly what a cold one does.
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DatabaseHandle, openDatabase } from "../../platform/data/database.js";
import { uuidv7 } from "../../platform/data/ids.js";
import { openSql } from "../../platform/data/postgres-connection.js";
import { createScratchDatabase } from "../../platform/testing.js";
import { migrationsFolder } from "./config.js";
import * as schema from "./schema.js";
import { normalised } from "./store/search.js";
import { CatalogStore } from "./store.js";

describe("search rankings remembered by two replicas of the catalog", () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  const handles: DatabaseHandle<typeof schema>[] = [];
  // Each replica its own pool and its own remembered rankings, as two processes would have.
  const replica = async (searchSample?: number) => {
    const handle = await openDatabase({ url: scratch.url, schema, migrationsFolder, poolMax: 4 });
    handles.push(handle);
    return new CatalogStore(handle.db, searchSample === undefined ? {} : { searchSample });
  };
  let a: CatalogStore;
  let b: CatalogStore;
  const names = async (store: CatalogStore, query: string, skip = 0, take = 20) =>
    (await store.search.search(query, skip, take)).map((p) => p.name);
  const db = () => {
    if (!handles[0]) throw new Error("no replica yet");
    return handles[0].db;
  };
  /** A replica that just started: nothing remembered yet (the first replica's pool). */
  const cold = (searchSample?: number) =>
    new CatalogStore(db(), searchSample === undefined ? {} : { searchSample });
  const generation = async () => {
    const [row] = await db().select().from(schema.searchGeneration);
    return row?.generation;
  };

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    a = await replica();
    b = await replica();
    await a.products.createMany([
      { name: "Kettle", description: "Steel.", priceCents: 100, stock: 5 },
      { name: "Stovetop kettle", description: "Kettle, kettle.", priceCents: 100, stock: 5 },
      { name: "Teapot", description: "Heats like a kettle.", priceCents: 100, stock: 5 },
    ]);
  });
  afterAll(async () => {
    for (const handle of handles) await handle.close();
    await scratch?.drop();
  });

  it("finds a product the other replica created after it searched for its word", async () => {
    expect(await names(a, "xylophone")).toEqual([]);
    await b.products.create({ name: "Xylophone", description: "", priceCents: 100, stock: 1 });
    expect(await names(a, "xylophone")).toEqual(["Xylophone"]);
  });

  it("ranks again after the other replica renames or redescribes a product", async () => {
    expect(await names(a, "kettle")).toEqual(["Stovetop kettle", "Kettle", "Teapot"]);
    const [kettle] = await a.search.search("kettle lid", 0, 1);
    expect(kettle).toBeUndefined();
    const plain = (await a.search.search("kettle", 1, 1))[0];
    if (!plain) throw new Error("no plain kettle");
    await b.products.update(plain.id, { name: "Kettle lid" });
    expect(await names(a, "kettle lid")).toEqual(["Kettle lid"]);
    // Its description now says "kettle" three times: it outranks the stovetop kettle.
    await b.products.update(plain.id, { description: "Kettle kettle kettle." });
    expect(await names(a, "kettle")).toEqual(["Kettle lid", "Stovetop kettle", "Teapot"]);
    // Renamed away from the word: a name match no more, now a description-only one.
    await b.products.update(plain.id, { name: "Lid" });
    expect(await names(a, "kettle")).toEqual(["Stovetop kettle", "Lid", "Teapot"]);
  });

  it("keeps rankings through stock and price changes, which show at once", async () => {
    const before = await generation();
    const [first] = await a.search.search("stovetop", 0, 1);
    if (!first) throw new Error("no stovetop kettle");
    await b.products.update(first.id, { stock: 42, priceCents: 4200 });
    await b.reservations.reserve(uuidv7(), [{ productId: first.id, quantity: 2 }], 60);
    expect(await generation()).toBe(before);
    const [after] = await a.search.search("stovetop", 0, 1);
    expect(after).toMatchObject({ id: first.id, stock: 40, priceCents: 4200 });
    await b.products.update(first.id, { name: "Stovetop kettle" });
    expect(await generation()).toBe((before ?? 0) + 1);
  });

  it("answers from the remembered ranking while the generation stands", async () => {
    expect(await names(a, "ocarina")).toEqual([]);
    // Written with triggers off (as a restore might): the generation does not move, so the
    // warm replica still answers its remembered ranking, and a cold one sees the product.
    const raw = openSql(scratch.url, { max: 1 });
    try {
      await raw.begin(async (tx) => {
        await tx`set local session_replication_role = replica`;
        const id = uuidv7();
        await tx`insert into products (id, name, price_cents) values (${id}, 'Ocarina', 100)`;
        await tx`insert into product_stock (product_id, stock) values (${id}, 1)`;
      });
    } finally {
      await raw.end();
    }
    expect(await names(a, "ocarina")).toEqual([]);
    expect(await names(cold(), "ocarina")).toEqual(["Ocarina"]);
    await db().execute(sql`update search_generation set generation = generation + 1`);
    expect(await names(a, "ocarina")).toEqual(["Ocarina"]);
  });

  it("answers every page alike warm or cold, across the sampled and the exact pages", async () => {
    const warm = await replica(2);
    await b.products.createMany(
      ["Kettle descaler", "Kettle scale", "Tea kettle"].map((name) => ({
        name,
        description: "For the kettle.",
        priceCents: 100,
        stock: 1,
      })),
    );
    for (const query of [
      "kettle",
      "KETTLE  ",
      "tea or kettle",
      "kettle -tea",
      "descaler or scale",
    ]) {
      for (const take of [1, 2, 3, 5]) {
        for (let skip = 0; skip < 12; skip += take) {
          const first = await names(cold(2), query, skip, take);
          expect(await names(warm, query, skip, take), `${query} ${skip} ${take}`).toEqual(first);
          expect(await names(warm, query, skip, take)).toEqual(first);
        }
      }
    }
  });

  it("answers whole records, cold and warm, as a read by id does", async () => {
    const fresh = cold();
    const [first] = await fresh.search.search("xylophone", 0, 1);
    if (!first) throw new Error("no xylophone");
    const byId = await a.products.findById(first.id);
    expect(byId?.createTime).toBeInstanceOf(Date);
    expect(first).toEqual(byId);
    expect(await fresh.search.search("xylophone", 0, 1)).toEqual([byId]);
  });

  it("remembers queries under their ASCII case and white space folded, nothing else", () => {
    expect(normalised("  Kettle \t\n LID ")).toBe("kettle lid");
    expect(normalised('"Soft  touch" OR mug')).toBe('"soft touch" or mug');
    expect(normalised("KÄSE\u00a0Kettle")).toBe("kÄse\u00a0kettle");
  });
});
