// `npm run bench`'s search section: bench:search (ListProducts with a query, 32 clients, over
// the products it loads, alternating with ListProducts without a query) read back into rows.
import { num, row, script, times } from "../report.js";

export async function search(products: number): Promise<void> {
  const out = await script("bench/search.ts", ["--products", String(products)]);
  const figures = (label: string) => {
    const line = out.match(new RegExp(`^${label}.*$`, "m"))?.[0] ?? "";
    return {
      rate: num(line, /(\d+) calls\/s/),
      p99: num(line, /p99 ([\d.]+) ms/),
    };
  };
  const query = figures("search ListProducts\\(query\\)");
  const cold = figures("search, every query new");
  const reference = figures("reference ListProducts");
  const scale = `${products.toLocaleString("en")} products, 32 clients`;
  row(
    `search ListProducts(query), ${scale}`,
    `${query.rate.toFixed(0)} calls/s`,
    `ListProducts without a query, distinct pages: ${reference.rate.toFixed(0)} calls/s`,
    times(query.rate, reference.rate),
    "≥ 0.5 ×",
  );
  row(
    `the same, every query new (none remembered), ${scale}`,
    `${cold.rate.toFixed(0)} calls/s`,
    `ListProducts without a query, distinct pages: ${reference.rate.toFixed(0)} calls/s`,
    times(cold.rate, reference.rate),
    "",
  );
  row(
    `search ListProducts(query) p99, ${scale}`,
    `${query.p99.toFixed(1)} ms`,
    `ListProducts without a query: ${reference.p99.toFixed(1)} ms`,
    times(query.p99, reference.p99),
    "≤ 3 ×",
  );
  row("search plans use the GIN indexes", /NOT used/.test(out) ? "NO" : "yes", "", "", "yes");
}
