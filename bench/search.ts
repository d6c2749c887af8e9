// Search benchmark (npm run bench:search): loads 100,000 generated products into a fresh
// database on the PostgreSQL server of DATABASE_URL (or TEST_DATABASE_URL), then measures
// ListProducts with a query through the real handler, 32 clients, against its same-run
// reference, ListProducts without a query (each call a different page), the two alternating in
// rounds so that the machine's load falls on both; prints both rates and latencies, their
// ratios, and the plans of the search statements, which must use the GIN indexes. Searches come
// two ways: 500 queries asked again and again (a shop's searches repeat: the catalog remembers
// their rankings), and every query new (a suffix that excludes nothing), what a first search
// costs.
//   npm run bench:search -- [--products 100000] [--clients 32] [--seconds 4] [--rounds 3]
//   [--keep]
//   (--help: bench/options.ts)
import { randomBytes } from "node:crypto";
import { createClient } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { CatalogService } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { openDatabase, pgArray } from "../platform/data/database.js";
import { uuidv7 } from "../platform/data/ids.js";
import { openSql } from "../platform/data/postgres-connection.js";
import { routerTransport, testAuthority } from "../platform/testing.js";
import { migrationsFolder } from "../services/catalog/config.js";
import * as schema from "../services/catalog/schema.js";
import { catalogRoutes } from "../services/catalog/service.js";
import { defaultSearchSample } from "../services/catalog/store/search.js";
import { CatalogStore } from "../services/catalog/store.js";
import { benchOptions } from "./options.js";

const args = benchOptions("bench:search", {
  products: { default: 100_000, help: "products to load" },
  clients: { default: 32, help: "calls in flight" },
  seconds: { default: 4, help: "seconds per round of each kind" },
  rounds: { default: 3, help: "rounds of each kind of call (alternating)" },
  sample: { default: defaultSearchSample, help: "matches of each tier search ranks first" },
  keep: { default: false, help: "keep the database afterwards" },
});
const productCount = args.products;

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
    const store = new CatalogStore(database.db, { searchSample: args.sample });
    const { authority } = testAuthority();
    const client = createClient(
      CatalogService,
      routerTransport(catalogRoutes({ store, reservationTtlSeconds: 900 }), authority),
    );
    const queryRandom = prng(7);
    const queries = Array.from({ length: 500 }, (_, i) => {
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
    // The reference: 80 different pages of 20, asked in turn (as bench:gateway's distinct
    // pages), so that calls in flight together share nothing, as different searches do not.
    let unique = 0;
    const kinds = {
      search: (i: number) => ({ query: queries[i % queries.length] ?? "", take: 20 }),
      cold: (i: number) => ({
        query: `${queries[i % queries.length] ?? ""} -zq${unique++}`,
        take: 20,
      }),
      reference: (i: number) => ({ skip: i % 80, take: 20 }),
    };
    type Kind = keyof typeof kinds;
    const timings: Record<Kind, number[]> = { search: [], cold: [], reference: [] };
    const wall: Record<Kind, number> = { search: 0, cold: 0, reference: 0 };
    let returned = 0;
    const run = async (kind: Kind, seconds: number, record: boolean) => {
      let next = 0;
      const started = performance.now();
      const until = started + seconds * 1000;
      await Promise.all(
        Array.from({ length: args.clients }, async () => {
          while (performance.now() < until) {
            const request = kinds[kind](next++);
            const t0 = performance.now();
            const { products } = await client.listProducts(request);
            if (!record) continue;
            timings[kind].push(performance.now() - t0);
            if (kind !== "reference") returned += products.length;
          }
        }),
      );
      if (record) wall[kind] += (performance.now() - started) / 1000;
    };
    await run("search", 1, false); // warm-up: JIT, pool, prepared statements
    await run("reference", 1, false);
    for (let round = 0; round < args.rounds; round++) {
      const kindsInOrder: Kind[] = ["search", "cold", "reference"];
      const order = round % 2 === 0 ? kindsInOrder : kindsInOrder.reverse();
      for (const kind of order) await run(kind, args.seconds, true);
    }
    const figures = (kind: Kind) => {
      const sorted = [...timings[kind]].sort((a, b) => a - b);
      const at = (p: number) =>
        sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
      return { rate: sorted.length / wall[kind], p50: at(50), p99: at(99), calls: sorted.length };
    };
    const search = figures("search");
    const cold = figures("cold");
    const reference = figures("reference");
    const line = (label: string, f: typeof search) =>
      `${label.padEnd(46)} ${f.rate.toFixed(0).padStart(6)} calls/s   p50 ${f.p50.toFixed(2)} ms   p99 ${f.p99.toFixed(2)} ms   (${f.calls} calls)`;
    log(`\n${args.clients} clients, ${args.rounds} rounds of ${args.seconds} s each, alternating:`);
    log(line("search ListProducts(query), take 20", search));
    log(line("search, every query new", cold));
    log(line("reference ListProducts, distinct pages, take 20", reference));
    log(
      `  (searches answered ${(returned / (search.calls + cold.calls)).toFixed(1)} products on average)`,
    );
    for (const [label, f] of [
      ["search", search],
      ["new queries", cold],
    ] as const) {
      log(
        `${label}/reference: rate ${(f.rate / reference.rate).toFixed(2)}× (target ≥ 0.5×), p99 ${(f.p99 / reference.p99).toFixed(2)}× (target ≤ 3×)`,
      );
    }

    // The plans of exactly the statements the store runs: the ranking one ranks a query's
    // samples (once, until a product's text changes), the page one reads each call's rows, the
    // exact one answers pages past the samples.
    for (const query of ["kettle", "walnut desk"]) {
      const [{ matches } = { matches: 0 }] = await raw<{ matches: number }[]>`
        select count(*)::int as matches from products
        where search @@ websearch_to_tsquery('english', ${query})`;
      const page = (await store.search.search(query, 0, 20)).map((p) => p.id);
      const values = { query, skip: 0, take: 20, end: 20, ids: pgArray(page) };
      const statements = store.search.statements((name) => sql`${values[name]}`);
      for (const [which, indexes] of [
        ["ranking", ["products_name_search_idx", "products_search_idx"]],
        ["page", ["products_pkey"]],
        ["exact", ["products_search_idx"]],
      ] as const) {
        const statement = statements[which].toSQL();
        log(`\nEXPLAIN ANALYZE, ${which} statement, "${query}" (${matches} matching products):`);
        const plan = await raw.unsafe<{ "QUERY PLAN": string }[]>(
          `explain (analyze, buffers) ${statement.sql}`,
          statement.params as never[],
        );
        for (const row of plan) log(`  ${row["QUERY PLAN"]}`);
        const text = plan.map((row) => row["QUERY PLAN"]).join("\n");
        for (const index of indexes) {
          if (text.includes(index)) continue;
          log(`  !! the index ${index} was NOT used`);
          process.exitCode = 1;
        }
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
