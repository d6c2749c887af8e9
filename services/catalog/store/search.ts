// Full-text search over the products (PostgreSQL): each query's ranking, remembered by the
// process until any product's text changes, and each page's rows read fresh on every call.
import { asc, type SQL, type SQLWrapper, sql } from "drizzle-orm";
import { inRequestOrder } from "../../../platform/collections.js";
import { pgArray } from "../../../platform/data/database.js";
import { Lru } from "../../../platform/lru.js";
import { productStock, products, searchGeneration } from "../schema.js";
import type { CatalogDb } from "./db.js";
import { type ProductRecord, productColumns, withStock } from "./products.js";

/**
 * The matches of each tier that a search ranks before answering its first pages: enough for
 * ten pages of 20 name matches, few enough that a common word costs about as much as a rare one.
 */
export const defaultSearchSample = 200;

/** Queries whose ranking a process remembers: each at most 2 × the sample × 16 bytes of ids. */
const rememberedRankings = 1_000;

/** One query's sampled order, as ranked when the search generation was `generation`. */
interface Ranking {
  generation: number;
  /** The ids in order, 16 bytes each: the name sample, then the description-only sample. */
  ids: Buffer;
  named: number;
  described: number;
  /** Whether the description-only sample was read (only once a page ends past the names). */
  describedRead: boolean;
}

/**
 * Search, best match first: products whose name matches the query come before those that match
 * only with their description; within each, by ts_rank, then by id so that pages are stable.
 *
 * Ranking is bounded. Ranking every match of a common word ("kettle": 4,359 of 100,000
 * products) reads each match's row from the heap and ranks it before the first page can be
 * answered (~10 ms); so ts_rank orders only a sample of each tier, the first `sample` matches
 * the GIN index yields (storage order, which is roughly the oldest products), and the rest of
 * the tier follows the sample, ranked among themselves. The trade-off: when more than `sample`
 * products match by name, the first page is the best of a sample of them rather than of all
 * (still all name matches, before every description-only match); a query with fewer matches is
 * ranked exactly. The first pages read at most twice the sample; pages past the samples rank
 * every match (the exact statement), in the same order.
 *
 * The ranking depends only on the products' text, so the sampled order of a query is kept (up to
 * `rememberedRankings` queries) with the search generation it was ranked at (schema.ts: raised
 * in the same transaction as any change of a product's text, on any replica). A page of a
 * remembered ranking reads its rows and the current generation in one statement (~0.1 ms in
 * PostgreSQL, about a page of ListProducts without a query, against ~1 ms to rank); a ranking
 * whose generation is no longer current is made again. Ranking reads the page's rows in the
 * same statement, so every answer is one snapshot's, never older than its own call.
 */
export class SearchStore {
  readonly #rankings = new Lru<Ranking>(rememberedRankings);
  readonly #rank;
  readonly #page;
  readonly #exact;

  constructor(
    private readonly db: CatalogDb,
    /** Matches of each tier that search ranks on its first pages. */
    private readonly sample = defaultSearchSample,
  ) {
    const statements = this.statements((name) => sql.placeholder(name));
    this.#rank = statements.ranking.prepare("catalog_search_ranking");
    this.#page = statements.page.prepare("catalog_search_page");
    this.#exact = statements.exact.prepare("catalog_search_exact");
  }

  async search(query: string, skip: number, take: number): Promise<ProductRecord[]> {
    const key = normalised(query);
    const end = skip + take;
    const known = this.#rankings.get(key);
    const reached = known && reach(known, end, this.sample);
    if (known && reached === "exact") return this.#exactly(query, skip, end);
    if (known && reached === "sampled") {
      const ids = idsBetween(known.ids, skip, end);
      const rows = await this.#page.execute({ ids: pgArray(ids) });
      if (rows[0]?.generation === known.generation) {
        return inRequestOrder(ids, rows.flatMap(productOf), (row) => row.id);
      }
      // A product's text changed since this ranking was made: it is made again.
    }
    // The ranking, with the page's rows read in the same statement (one snapshot).
    const [head, ...page] = await this.#rank.execute({ query, skip, end });
    if (head?.ids == null) throw new Error("the ranking statement returned no ranking");
    const ranking: Ranking = {
      generation: head.generation,
      ids: Buffer.from(head.ids, "hex"),
      named: head.named,
      described: head.described,
      describedRead: head.named < end,
    };
    this.#rankings.set(key, ranking);
    if (reach(ranking, end, this.sample) !== "sampled") return this.#exactly(query, skip, end);
    return page.flatMap(productOf);
  }

  async #exactly(query: string, skip: number, end: number): Promise<ProductRecord[]> {
    return this.#exact.execute({ query, skip, take: end - skip });
  }

  /**
   * The three statements search runs (the search benchmark EXPLAINs them), with `value` giving
   * each parameter: `ranking` ranks the first `sample` matches of each tier (the description
   * tier only when the page ends past the name sample) and answers their ids in order with the
   * current generation, then the page's rows; `page` reads the rows of some ids with the current generation; `exact`
   * ranks every match in the same order (within each tier, its sample first) and reads a page.
   */
  statements(value: (name: "query" | "ids" | "skip" | "take" | "end") => SQLWrapper) {
    const english = sql`'english'::regconfig`;
    const nameMatches = sql`to_tsvector(${english}, p.name) @@ q.q`;
    const limit = sql.raw(String(this.sample));
    // The tsquery comes from a function scan: the planner then estimates every query alike (its
    // default selectivity) and always plans the GIN bitmap scans, which yield rows in storage
    // order, so each call for a query draws the same sample.
    const samples = sql`q as (select websearch_to_tsquery(${english}, ${value("query")}::text) as q),
      named as (select p.id, p.search from q, products p where ${nameMatches} limit ${limit}),
      described as (select p.id, p.search from q, products p
                    where p.search @@ q.q and not ${nameMatches} limit ${limit})`;
    const generation = sql`(select generation from search_generation)`;
    // The first row: the generation, each tier's sample count and the ids in order; then the
    // page's rows, in order.
    const ranking = this.db
      .select({
        generation: sql<number>`r.generation`.mapWith(Number),
        named: sql<number>`r.named`,
        described: sql<number>`r.described`,
        ids: sql<string | null>`r.ids`,
        id: sql<string | null>`r.id`,
        name: sql<string>`r.name`,
        description: sql<string>`r.description`,
        priceCents: sql<number>`r.price_cents`.mapWith(products.priceCents),
        stock: sql<number>`r.stock`,
        createTime: sql<Date>`r.create_time`.mapWith(products.createTime),
      })
      .from(sql`(with ${samples},
        ranked as (
          select s.id, s.tier, ts_rank(s.search, q.q) as rank
          from q, (select id, 1 as tier, search from named
                   union all
                   select id, 0 as tier, search from described
                   where (select count(*) from named) < ${value("end")}::bigint) s),
        ordered as (
          select id, tier, row_number() over (order by tier desc, rank desc, id) - 1 as position
          from ranked)
        select ${generation} as generation,
               (select count(*) from ordered where tier = 1)::int as named,
               (select count(*) from ordered where tier = 0)::int as described,
               (select coalesce(string_agg(replace(id::text, '-', ''), '' order by position), '')
                from ordered) as ids,
               null::bigint as position, null::uuid as id, null::text as name,
               null::text as description, null::bigint as price_cents, null::int as stock,
               null::timestamptz as create_time
        union all
        select null, null, null, null, o.position, p.id, p.name, p.description, p.price_cents,
               st.stock, p.create_time
        from ordered o join products p on p.id = o.id join product_stock st on st.product_id = p.id
        where o.position >= ${value("skip")}::bigint and o.position < ${value("end")}::bigint
      ) as r`)
      .orderBy(sql`r.position asc nulls first`);
    const page = this.db
      .select({ generation: searchGeneration.generation, ...productColumns })
      .from(searchGeneration)
      .leftJoin(products, sql`${products.id} = any(${value("ids")}::uuid[])`)
      .leftJoin(productStock, withStock);
    const exactRanking = sql`(with ${samples}
      select p.id, (case when ${nameMatches} then 1 else 0 end) as tier,
             (p.id in (select id from named union all select id from described)) as sampled,
             ts_rank(p.search, q.q) as rank
      from q, products p where p.search @@ q.q
      order by tier desc, sampled desc, rank desc, id
      offset ${value("skip")}::bigint limit ${value("take")}::int) as ranked`;
    const exact = this.db
      .select(productColumns)
      .from(products)
      .innerJoin(productStock, withStock)
      .innerJoin(exactRanking as SQL, sql`ranked.id = ${products.id}`)
      .orderBy(
        sql`ranked.tier desc`,
        sql`ranked.sampled desc`,
        sql`ranked.rank desc`,
        asc(products.id),
      );
    return { ranking, page, exact };
  }
}

/**
 * The product a row holds, if any: a page row has them all (inner joins), the ranking's first
 * row and the page statement's row when no id matched have none.
 */
function productOf(row: { [K in keyof ProductRecord]: ProductRecord[K] | null }): ProductRecord[] {
  const { id, name, description, priceCents, stock, createTime } = row;
  if (id === null) return [];
  return [{ id, name, description, priceCents, stock, createTime } as ProductRecord];
}

/**
 * Where the page ending at `end` lies for a ranking: inside its sampled order, past what it
 * read (ranked again, reading the description-only sample), or past a full sample (exact).
 */
function reach(ranking: Ranking, end: number, sample: number) {
  if (end <= ranking.named) return "sampled";
  if (ranking.named >= sample) return "exact";
  if (!ranking.describedRead) return "rank-again";
  return end <= ranking.named + ranking.described || ranking.described < sample
    ? "sampled"
    : "exact";
}

/** The uuids at positions skip … end - 1 of a ranking's ids. */
function idsBetween(ids: Buffer, skip: number, end: number): string[] {
  const out: string[] = [];
  for (let i = skip; i < end && (i + 1) * 16 <= ids.length; i++) {
    const hex = ids.toString("hex", i * 16, (i + 1) * 16);
    out.push(
      `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
    );
  }
  return out;
}

/**
 * The key a ranking is remembered under: queries that PostgreSQL's websearch_to_tsquery reads
 * alike whatever their ASCII case and runs of ASCII white space (other characters are kept as
 * they are: PostgreSQL's lower-casing of them follows its locale).
 */
export function normalised(query: string): string {
  return query
    .replace(/[\t\n\v\f\r ]+/g, " ")
    .trim()
    .replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}
