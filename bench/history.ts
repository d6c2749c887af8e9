// The order benchmarks' past (bench:orders, bench:live, bench:gateway): the orders a running
// shop has already taken, written straight into the scratch databases before the clients start,
// then VACUUM ANALYZE (as pgbench vacuums before it runs, and as autovacuum keeps a shop's
// statistics within 10% of its tables).
//
// Why: PostgreSQL plans a prepared statement once its first executions are done, from the
// statistics of that moment, and keeps the plan until the table is next analyzed. Started on
// empty tables, the services' batched look-ups by id (confirm and the settle marks on
// `orders`, the batched commit on `reservations`) were planned as sequential scans of tables
// that then grew by ~1,000 rows a second, and autovacuum analyzes a new table only after its
// first minute: the whole run. Measured (2026-12-07, `bench:orders --seconds 30 --rounds 1`):
// one sequential scan per batch, 4,977,154 rows of `orders` read for 10,913 orders; with the
// tables analyzed every 3 s instead, the backends' CPU per order fell from 0.77–0.80 to
// 0.64 ms and the rate rose from 910–930 to 1,053 orders/s. A shop lives in the second regime
// from its first minute on; the bench now measures that one, with the same history on both
// sides. The customers it belongs to are not the bench's own, so the reconciliation (which
// lists the bench customers' orders) and the stock (history took none) are untouched.
import { openSql } from "../platform/data/postgres-connection.js";

/**
 * `orders` past orders by other customers, with their items, in the order and catalog databases
 * (and the database-only order's, when given), each then vacuumed and analyzed.
 */
export async function seedOrderHistory(options: {
  orders: number;
  /** Scratch database URLs: the order service's and the catalog's. */
  orderUrl: string;
  catalogUrl: string;
  productIds: readonly string[];
  /** The database-only order's (bench/db-order.ts), whose products are 0 … products-1. */
  reference?: { url: string; products: number };
}): Promise<void> {
  const { orders, productIds } = options;
  // Item n of past order x is product (7x + n) mod the product count: two different products
  // (or one when there is one), spread over all of them.
  const items = (products: number) => `generate_series(0, ${Math.min(2, products) - 1}) n`;
  const nth = (products: number) => `(x * 7 + n) % ${products}`;
  const past = `(select x, md5(x::text)::uuid as id, md5('customer' || x % 10000)::uuid as account,
      now() - (${orders} - x) * interval '10 ms' as at
    from generate_series(1, ${orders}) x) p`;
  const seed = async (url: string, statements: string[]) => {
    const sql = openSql(url, { max: 1 });
    try {
      for (const statement of statements) await sql.unsafe(statement);
      await sql.unsafe("vacuum analyze");
    } finally {
      await sql.end();
    }
  };
  const productId = `('{${productIds.join(",")}}'::uuid[])[1 + ${nth(productIds.length)}]`;
  await Promise.all([
    seed(options.orderUrl, [
      `insert into orders (id, account_id, idempotency_key, status, total_cents, settled,
         fulfilment, event_seq, create_time, update_time)
       select id, account, md5(x::text), 'confirmed', 300, true, 'placed', 1, at, at from ${past}`,
      `insert into order_items (order_id, position, product_id, name, description,
         unit_price_cents, quantity)
       select id, n, ${productId}, 'Past product', 'from the seeded history', 100, 1 + n
       from ${past}, ${items(productIds.length)}`,
    ]),
    seed(options.catalogUrl, [
      `insert into reservations (order_id, state, create_time, expire_time, update_time)
       select id, 'committed', at, at + interval '15 minutes', at from ${past}`,
      `insert into reservation_items (order_id, product_id, quantity, unit_price_cents)
       select id, ${productId}, 1 + n, 100 from ${past}, ${items(productIds.length)}`,
    ]),
    options.reference &&
      seed(options.reference.url, [
        `insert into orders (id, account_id, total_cents, create_time)
         select id, account, 300, at from ${past}`,
        `insert into order_items (order_id, product_id, quantity, price_cents)
         select id, ${nth(options.reference.products)}, 1 + n, 100
         from ${past}, ${items(options.reference.products)}`,
      ]),
  ]);
}
