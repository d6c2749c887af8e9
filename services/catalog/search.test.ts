// Search: PostgreSQL full-text ranking, stable browsing while products are added, the
// OpenSearch mapping and query, and the outbox that keeps OpenSearch in step — on each real
// database. OpenSearch itself is exercised only when OPENSEARCH_URL points at a server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uuidv7 } from "../../platform/data/ids.js";
import {
  bulkBody,
  OpenSearchCatalogIndex,
  productIndexBody,
  searchBody,
  toDocument,
} from "./search/opensearch.js";
import { drainOutbox, type SearchIndexer } from "./search/outbox.js";
import { idSearch } from "./search/search.js";
import type { ProductRecord } from "./store.js";
import { aProduct, type CatalogTestbed, openCatalogTestbed } from "./testing.js";

describe("product search and browsing", () => {
  let bed: CatalogTestbed;

  beforeAll(async () => {
    bed = await openCatalogTestbed();
  });
  afterAll(() => bed?.close());

  const search = async (query: string, take = 20, skip = 0) =>
    (await bed.client.listProducts({ query, take, skip })).products.map((p) => p.name);

  describe("PostgreSQL full-text search", () => {
    beforeAll(async () => {
      await bed.store.products.createMany([
        {
          name: "Travel mug",
          description: "Keeps espresso hot. Espresso, espresso, espresso all day long.",
          priceCents: 1500,
          stock: 5,
        },
        { name: "Espresso machine", description: "Fifteen bar pump.", priceCents: 29900, stock: 2 },
        { name: "Tamper", description: "For espresso pucks.", priceCents: 2500, stock: 9 },
        {
          name: "Espresso cups, espresso saucers",
          description: "Porcelain.",
          priceCents: 3000,
          stock: 9,
        },
        {
          name: "Linen apron",
          description: "Heavy linen with a leather neck strap.",
          priceCents: 4500,
          stock: 3,
        },
        { name: "Running shoes", description: "Light trail runners.", priceCents: 9900, stock: 4 },
      ]);
    });

    it("ranks name matches above description-only matches, however often those repeat", async () => {
      const names = await search("espresso");
      expect(names).toHaveLength(4);
      expect(names.slice(0, 2).sort()).toEqual([
        "Espresso cups, espresso saucers",
        "Espresso machine",
      ]);
      expect(names.slice(2).sort()).toEqual(["Tamper", "Travel mug"]);
    });

    it("stems English words and understands web-search syntax", async () => {
      expect(await search("runs")).toEqual(["Running shoes"]);
      expect(await search('"leather neck"')).toEqual(["Linen apron"]);
      expect(await search('"neck leather"')).toEqual([]);
      expect((await search("espresso -cups")).sort()).toEqual([
        "Espresso machine",
        "Tamper",
        "Travel mug",
      ]);
      expect(await search("espresso or linen")).toHaveLength(5);
      expect(await search("ESPRESSO MACHINE")).toEqual(["Espresso machine"]);
    });

    it("finds nothing for stop words, punctuation or unknown words, without failing", async () => {
      expect(await search("the")).toEqual([]);
      expect(await search("!!! & | :*")).toEqual([]);
      expect(await search("xylophone")).toEqual([]);
      expect(await search("'); drop table products; --")).toEqual([]);
      expect(await bed.store.products.count()).toBeGreaterThan(0);
    });

    it("pages through results deterministically", async () => {
      const all = await search("espresso", 100);
      const paged = [...(await search("espresso", 3, 0)), ...(await search("espresso", 3, 3))];
      expect(paged).toEqual(all);
      expect(await search("espresso", 100)).toEqual(all);
    });

    it("answers an empty page past the end, even when skip + take passes 2^31 (the fuzzer's)", async () => {
      expect(await search("espresso", 100, 2_147_483_548)).toEqual([]);
    });

    it("uses the GIN index when sequential scans are off", async () => {
      const plan = await bed.database.db.transaction(async (tx) => {
        await tx.execute("set local enable_seqscan = off");
        return tx.execute(
          "explain select id from products where search @@ websearch_to_tsquery('english', 'espresso')",
        );
      });
      const text = JSON.stringify(plan);
      expect(text).toContain("products_search_idx");
    });
  });

  describe("bounded ranking (a sample of 2 matches per tier)", () => {
    let small: CatalogTestbed;
    const names = async (query: string, skip: number, take: number) =>
      (await small.client.listProducts({ query, skip, take })).products.map((p) => p.name);

    beforeAll(async () => {
      small = await openCatalogTestbed({ searchSample: 2 });
      // Five name matches, four description-only ones, with ranks that differ; stored in this order.
      await small.store.products.createMany([
        { name: "Kettle", description: "Steel.", priceCents: 100, stock: 1 },
        { name: "Kettle descaler", description: "For any kettle.", priceCents: 100, stock: 1 },
        { name: "Stovetop kettle", description: "Kettle, kettle.", priceCents: 100, stock: 1 },
        { name: "Kettle lid", description: "Glass.", priceCents: 100, stock: 1 },
        { name: "Tea kettle", description: "Kettle kettle kettle.", priceCents: 100, stock: 1 },
        { name: "Teapot", description: "Heats like a kettle.", priceCents: 100, stock: 1 },
        { name: "Mug", description: "Kettle kettle.", priceCents: 100, stock: 1 },
        { name: "Hob", description: "Boils a kettle.", priceCents: 100, stock: 1 },
        { name: "Trivet", description: "Under a hot kettle.", priceCents: 100, stock: 1 },
        { name: "Spoon", description: "Stirs.", priceCents: 100, stock: 1 },
      ]);
    });
    afterAll(() => small?.close());

    const nameMatches = [
      "Kettle",
      "Kettle descaler",
      "Kettle lid",
      "Stovetop kettle",
      "Tea kettle",
    ];

    it("puts every name match before every description-only match, on every page", async () => {
      const all = await names("kettle", 0, 100);
      expect(all).toHaveLength(9);
      expect(all.slice(0, 5).sort()).toEqual(nameMatches);
      expect(all.slice(5).sort()).toEqual(["Hob", "Mug", "Teapot", "Trivet"]);
    });

    it("answers the same order page by page, across the sampled and the exact pages", async () => {
      const all = await names("kettle", 0, 100);
      for (const take of [1, 2, 3, 4]) {
        const paged: string[] = [];
        for (let skip = 0; skip < 12; skip += take)
          paged.push(...(await names("kettle", skip, take)));
        expect(paged).toEqual(all);
      }
    });

    it("ranks the sample: the first page is the better of the first two name matches", async () => {
      // "Kettle descaler" also has the word in its description: it outranks "Kettle".
      expect(await names("kettle", 0, 2)).toEqual(["Kettle descaler", "Kettle"]);
    });

    it("ranks exactly when a tier has fewer matches than the sample", async () => {
      expect(await names("teapot", 0, 20)).toEqual(["Teapot"]);
      expect(await names("glass", 0, 20)).toEqual(["Kettle lid"]);
    });
  });

  describe("browsing while products are added", () => {
    it("shows every product that existed before, once, in creation order", async () => {
      for (let i = 0; i < 30; i++) await aProduct(bed.store);
      const existing = (await bed.store.products.list(0, 10_000)).map((p) => p.id);
      let writing = true;
      const writers = Array.from({ length: 3 }, async () => {
        let written = 0;
        while (writing && written < 40) {
          await aProduct(bed.store, { name: `Concurrent ${uuidv7()}` });
          written++;
        }
      });
      const seen: string[] = [];
      for (let skip = 0; ; skip += 5) {
        const { products } = await bed.client.listProducts({ skip, take: 5 });
        seen.push(...products.map((p) => p.id));
        if (products.length < 5 || seen.length > existing.length + 200) break;
      }
      writing = false;
      await Promise.all(writers);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.slice(0, existing.length)).toEqual(existing);
      const final = (await bed.store.products.list(0, 10_000)).map((p) => p.id);
      expect(final.slice(0, seen.length)).toEqual(seen);
    });
  });

  describe("the search indexer, reading the event outbox", () => {
    function recordingIndexer(failures = 0) {
      const calls: { upsert: string[]; remove: string[] }[] = [];
      let remaining = failures;
      const indexer: SearchIndexer = async (batch) => {
        if (remaining > 0) {
          remaining--;
          throw new Error("connect ECONNREFUSED 127.0.0.1:9200");
        }
        calls.push({ upsert: batch.upsert.map((p) => p.name), remove: [...batch.remove] });
      };
      return { calls, indexer };
    }

    const drainAll = async (indexer: SearchIndexer) => {
      while (((await drainOutbox(bed.store, indexer)) ?? 0) > 0) {}
    };

    it("pushes the current state of each product created or updated since its cursor", async () => {
      await drainAll(recordingIndexer().indexer);
      const product = await aProduct(bed.store, { name: "Outbox kettle" });
      await bed.client.updateProduct({ id: product.id, name: "Outbox kettle v2" }, bed.as.admin);

      const { calls, indexer } = recordingIndexer();
      await drainAll(indexer);
      expect(calls).toEqual([{ upsert: ["Outbox kettle v2"], remove: [] }]);
      calls.length = 0;
      await drainAll(indexer);
      expect(calls).toEqual([]);
    });

    it("keeps its cursor when the index is down and pushes the changes once it is back", async () => {
      await drainAll(recordingIndexer().indexer);
      await aProduct(bed.store, { name: "Resilient lamp" });
      const { calls, indexer } = recordingIndexer(2);
      await expect(drainOutbox(bed.store, indexer)).rejects.toThrow(/ECONNREFUSED/);
      await expect(drainOutbox(bed.store, indexer)).rejects.toThrow(/ECONNREFUSED/);
      await drainAll(indexer);
      expect(calls).toEqual([{ upsert: ["Resilient lamp"], remove: [] }]);
    });

    it("reservations push nothing; a failed product write leaves no event", async () => {
      const product = await aProduct(bed.store, { stock: 5 });
      await drainAll(recordingIndexer().indexer);
      await bed.client.reserveStock(
        { orderId: uuidv7(), items: [{ productId: product.id, quantity: 1 }] },
        bed.as.service,
      );
      await expect(
        bed.store.products.createMany([
          { name: "Fine", description: "", priceCents: 1, stock: 1 },
          { name: "Broken", description: "", priceCents: 1, stock: -1 },
        ]),
      ).rejects.toThrow();
      const { calls, indexer } = recordingIndexer();
      await drainAll(indexer);
      expect(calls).toEqual([]);
    });

    it("pushes the whole catalog when it has no cursor (a new index, an upgrade)", async () => {
      await drainAll(recordingIndexer().indexer);
      const count = await bed.store.products.count();
      await bed.store.outbox.restart();
      const { calls, indexer } = recordingIndexer();
      await drainAll(indexer);
      expect(calls.flatMap((c) => c.upsert)).toHaveLength(count);
    });
  });

  describe("id search (OpenSearch hits → PostgreSQL rows)", () => {
    it("keeps the engine's order and leaves out ids PostgreSQL does not know", async () => {
      const a = await aProduct(bed.store);
      const b = await aProduct(bed.store);
      const engine = idSearch(bed.store.products, "opensearch", async () => [b.id, uuidv7(), a.id]);
      expect((await engine.search("anything", 0, 20)).map((p) => p.id)).toEqual([b.id, a.id]);
    });
  });
});

describe("OpenSearch documents and requests", () => {
  const product: ProductRecord = {
    id: "01a20f41-34ef-70ac-9fe7-9d73ce3efdfa",
    name: "Cold brew maker",
    description: "Steep overnight.",
    priceCents: 2890,
    stock: 70,
    createTime: new Date("2026-11-24T20:31:01.373Z"),
  };

  it("maps every document field explicitly and refuses unknown ones", () => {
    const body = productIndexBody();
    expect(body.mappings.dynamic).toBe("strict");
    expect(Object.keys(body.mappings.properties).sort()).toEqual(
      Object.keys(toDocument(product)).sort(),
    );
    expect(body.mappings.properties.name).toMatchObject({ type: "text", analyzer: "english" });
    expect(body.mappings.properties.description).toMatchObject({ type: "text" });
    expect(body.mappings.properties.id.type).toBe("keyword");
    expect(body.mappings.properties.price_cents.type).toBe("long");
  });

  it("turns a product into a document with integer cents and an ISO date", () => {
    expect(toDocument(product)).toEqual({
      id: product.id,
      name: "Cold brew maker",
      description: "Steep overnight.",
      price_cents: 2890,
      stock: 70,
      create_time: "2026-11-24T20:31:01.373Z",
    });
  });

  it("searches name^3 and description with fuzziness, ties broken by id", () => {
    expect(searchBody("cofee", 40, 20)).toEqual({
      from: 40,
      size: 20,
      _source: false,
      track_total_hits: false,
      query: {
        multi_match: { query: "cofee", fields: ["name^3", "description"], fuzziness: "AUTO" },
      },
      sort: [{ _score: { order: "desc" } }, { id: { order: "asc" } }],
    });
  });

  it("builds bulk bodies of index and delete actions", () => {
    expect(bulkBody("products", { upsert: [product], remove: ["gone"] })).toEqual([
      { index: { _index: "products", _id: product.id } },
      toDocument(product),
      { delete: { _index: "products", _id: "gone" } },
    ]);
  });
});

describe.skipIf(!process.env.OPENSEARCH_URL)("OpenSearch integration", () => {
  const url = process.env.OPENSEARCH_URL ?? "";
  let bed: CatalogTestbed;
  let index: OpenSearchCatalogIndex;

  beforeAll(async () => {
    index = await OpenSearchCatalogIndex.open(url, `bazaar-test-${uuidv7()}`);
    bed = await openCatalogTestbed();
  });
  afterAll(async () => {
    await index?.client.indices.delete({ index: index.index }).catch(() => {});
    await index?.close();
    await bed?.close();
  });

  it("creates the index once, indexes through the outbox and finds with typos", async () => {
    expect(await index.ensureIndex()).toBe(true);
    expect(await index.ensureIndex()).toBe(false);
    await aProduct(bed.store, { name: "Espresso grinder", description: "Steel burrs." });
    await aProduct(bed.store, { name: "Teapot", description: "Pairs with an espresso cup." });
    while (((await drainOutbox(bed.store, index.indexer)) ?? 0) > 0) {}
    await index.client.indices.refresh({ index: index.index });
    const found = await index.productSearch(bed.store.products).search("expresso", 0, 10);
    expect(found.map((p) => p.name)).toEqual(["Espresso grinder", "Teapot"]);
  });
});
