// Search benchmark (npm run bench:search): loads 100,000 generated products into a fresh
// database on the PostgreSQL server of DATABASE_URL (or TEST_DATABASE_URL), then measures
// ListProducts with a query through the real handler and prints the plan of the search
// statement, which should use the GIN index products_search_idx.
//   npm run bench:search -- [--products 100000] [--queries 500] [--keep]   (--help: bench/options.ts)
import { randomBytes } from "node:crypto";
import { createClient } from "@connectrpc/connect";
import { CatalogService } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { openDatabase } from "../platform/data/database.js";
import { uuidv7 } from "../platform/data/ids.js";
import { openSql } from "../platform/data/postgres-connection.js";
import { routerTransport, testAuthority } from "../platform/testing.js";
import { migrationsFolder } from "../services/catalog/config.js";
import * as schema from "../services/catalog/schema.js";
import { catalogRoutes } from "../services/catalog/service.js";
import { CatalogStore } from "../services/catalog/store.js";
import { benchOptions } from "./options.js";

const args = benchOptions("bench:search", {
  products: { default: 100_000, help: "products to load" },
  queries: { default: 500, help: "ListProducts searches to time" },
  keep: { default: false, help: "keep the database afterwards" },
});
const productCount = args.products;
const queryCount = args.queries;

const serverUrl = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!serverUrl) {
  process.stderr.write(
    "bench:search needs DATABASE_URL or TEST_DATABASE_URL (a PostgreSQL server)\n",
  );
  process.exit(2);
}

// Word lists: a product is "<adjective> <material> <noun>", described by ~25 words.
const adjectives =
  "classic compact deluxe durable elegant ergonomic essential everyday foldable handmade heavy-duty insulated lightweight minimalist modern portable premium professional reusable rustic sleek slim sturdy vintage waterproof wireless cordless adjustable organic recycled".split(
    " ",
  );
const materials =
  "bamboo brass canvas ceramic copper cotton glass granite hemp leather linen maple marble merino nylon oak porcelain rubber silicone slate steel stoneware suede titanium walnut wool aluminium acacia cork denim".split(
    " ",
  );
const nouns =
  "apron backpack basket blanket bottle bowl candle chair coaster cushion desk dripper grinder hammock headphones jacket jug kettle knife lamp mat mirror mug notebook organiser pan pillow planter rack scarf shelf skillet speaker spoon stool teapot tent thermos towel tray tumbler umbrella vase wallet watch whisk".split(
    " ",
  );
const vocabulary =
  "made from sustainably sourced materials built to last years daily use gift kitchen office travel camping garden home bathroom bedroom easy clean dishwasher safe hand wash only designed in small workshop finished by hand keeps drinks hot cold hours fits most bags shelves stacks neatly saves space comes with lifetime warranty free returns gentle on surfaces non-slip base soft touch grip balanced weight smooth finish matte glossy natural grain colours vary slightly every piece unique perfect for coffee tea lovers cooks hikers students readers artists gardeners families weekend trips picnics dinner parties morning routines quiet evenings rainy days sunny afternoons holiday season birthdays weddings housewarming".split(
    " ",
  );

function pick<T>(list: readonly T[], random: () => number): T {
  return list[Math.floor(random() * list.length)] as T;
}

/** A tiny deterministic PRNG (mulberry32): the same catalog on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function main() {
  const base = new URL(serverUrl as string);
  const name = `bazaar_bench_${randomBytes(4).toString("hex")}`;
  const admin = openSql(base.toString(), { max: 1 });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`database: ${url.host}/${name} (fresh)`);

  const database = await openDatabase({
    url: url.toString(),
    schema,
    migrationsFolder,
    poolMax: 10,
  });
  const raw = openSql(url.toString(), { max: 1 });
  try {
    const [{ version } = { version: "?" }] = await raw<{ version: string }[]>`select version()`;
    log(`server: ${version.split(",")[0]}`);

    // Load: 10,000 rows per INSERT … SELECT FROM unnest(arrays), one round trip each.
    const random = prng(42);
    const loadStart = performance.now();
    const batch = 10_000;
    const startMs = Date.now() - productCount;
    for (let offset = 0; offset < productCount; offset += batch) {
      const size = Math.min(batch, productCount - offset);
      const ids: string[] = [];
      const names: string[] = [];
      const descriptions: string[] = [];
      const prices: number[] = [];
      const stocks: number[] = [];
      const times: string[] = [];
      for (let i = 0; i < size; i++) {
        const ms = startMs + offset + i;
        ids.push(uuidv7(ms));
        names.push(`${pick(adjectives, random)} ${pick(materials, random)} ${pick(nouns, random)}`);
        const words = Array.from({ length: 15 + Math.floor(random() * 20) }, () =>
          pick(vocabulary, random),
        );
        words.splice(Math.floor(random() * words.length), 0, pick(nouns, random));
        descriptions.push(`${words.join(" ")}.`);
        prices.push(100 + Math.floor(random() * 50_000));
        stocks.push(Math.floor(random() * 500));
        times.push(new Date(ms).toISOString());
      }
      await raw`
        with x as (
          select * from unnest(${ids}::uuid[], ${names}::text[], ${descriptions}::text[],
                               ${prices}::bigint[], ${stocks}::int[], ${times}::timestamptz[])
            as x(id, name, description, price_cents, stock, t)
        ), product as (
          insert into products (id, name, description, price_cents, create_time, update_time)
          select id, name, description, price_cents, t, t from x
        )
        insert into product_stock (product_id, stock) select id, stock from x`;
    }
    await raw`vacuum analyze products`;
    const [{ size: tableSize } = { size: "?" }] = await raw<
      { size: string }[]
    >`select pg_size_pretty(pg_total_relation_size('products')) as size`;
    log(
      `loaded ${productCount.toLocaleString("en")} products in ${((performance.now() - loadStart) / 1000).toFixed(1)} s (table + indexes: ${tableSize})`,
    );

    // Queries through the real handler: router transport with the server's interceptors.
    const store = new CatalogStore(database.db);
    const { authority } = testAuthority();
    const client = createClient(
      CatalogService,
      routerTransport(catalogRoutes({ store, reservationTtlSeconds: 900 }), authority),
    );
    const queryRandom = prng(7);
    const queries = Array.from({ length: queryCount }, (_, i) => {
      switch (i % 5) {
        case 0:
          return pick(nouns, queryRandom);
        case 1:
          return `${pick(materials, queryRandom)} ${pick(nouns, queryRandom)}`;
        case 2:
          return `${pick(adjectives, queryRandom)} ${pick(nouns, queryRandom)}`;
        case 3:
          return `"${pick(vocabulary, queryRandom)} ${pick(vocabulary, queryRandom)}" or ${pick(nouns, queryRandom)}`;
        default:
          return `${pick(materials, queryRandom)} -${pick(adjectives, queryRandom)}`;
      }
    });
    for (const query of queries.slice(0, 50)) await client.listProducts({ query, take: 20 });
    const timings: number[] = [];
    let returned = 0;
    const runStart = performance.now();
    for (const query of queries) {
      const started = performance.now();
      const { products } = await client.listProducts({ query, take: 20 });
      timings.push(performance.now() - started);
      returned += products.length;
    }
    const wall = (performance.now() - runStart) / 1000;
    timings.sort((a, b) => a - b);
    const at = (p: number) =>
      timings[Math.min(timings.length - 1, Math.ceil((p / 100) * timings.length) - 1)] ?? 0;
    const mean = timings.reduce((a, b) => a + b, 0) / timings.length;
    log(
      `ListProducts with a query, take 20, ${queryCount} sequential calls (${(queryCount / wall).toFixed(0)}/s, avg ${(returned / queryCount).toFixed(1)} results):`,
    );
    log(
      `  p50 ${at(50).toFixed(2)} ms   p90 ${at(90).toFixed(2)} ms   p99 ${at(99).toFixed(2)} ms   max ${(timings.at(-1) ?? 0).toFixed(2)} ms   mean ${mean.toFixed(2)} ms`,
    );

    // The plan of exactly the statement the store runs.
    for (const query of ["kettle", "walnut desk"]) {
      const statement = store.products.search(query, 0, 20).toSQL();
      const [{ matches } = { matches: 0 }] = await raw<{ matches: number }[]>`
        select count(*)::int as matches from products
        where search @@ websearch_to_tsquery('english', ${query})`;
      log(`\nEXPLAIN (ANALYZE, BUFFERS) for query "${query}" (${matches} matching products):`);
      const plan = await raw.unsafe<{ "QUERY PLAN": string }[]>(
        `explain (analyze, buffers) ${statement.sql}`,
        statement.params as never[],
      );
      for (const row of plan) log(`  ${row["QUERY PLAN"]}`);
      const text = plan.map((row) => row["QUERY PLAN"]).join("\n");
      if (!text.includes("products_search_idx")) {
        log("  !! the GIN index products_search_idx was NOT used");
        process.exitCode = 1;
      }
    }
  } finally {
    await raw.end();
    await database.close();
    if (!args.keep) {
      const dropper = openSql(base.toString(), { max: 1 });
      await dropper.unsafe(`drop database if exists ${name} with (force)`);
      await dropper.end();
    } else {
      log(`kept database ${name}`);
    }
  }
}

await main();
