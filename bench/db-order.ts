// The database-only order (issue 21's reference for bench:orders): what an order must make
// durable, done by a load client straight against the same PostgreSQL, with no service, no RPC,
// no token. One transaction per order: decrement the stock of its items where enough remains, in
// product id order (so that concurrent orders never deadlock), all or nothing; insert the order
// and its items. bench/orders.ts runs it alternating with CreateOrder, with the same clients and
// the same mix of items over the same number of products.
import { randomUUID } from "node:crypto";
import type postgres from "postgres";
import { pgArray } from "../platform/data/database.js";
import { openSql } from "../platform/data/postgres-connection.js";

export interface DatabaseOnlyOrders {
  /** Orders placed by `clients` concurrent clients for `seconds`: how many and their latencies. */
  run(seconds: number): Promise<{ orders: number; refused: number; latencies: number[] }>;
  close(): Promise<void>;
}

/** The items of one order: 1–3 lines of 1–3 units over `products` products (as bench:orders). */
export function randomItems(products: number): { product: number; quantity: number }[] {
  const lines = 1 + Math.floor(Math.random() * 3);
  return Array.from({ length: lines }, () => ({
    product: Math.floor(Math.random() * products),
    quantity: 1 + Math.floor(Math.random() * 3),
  }));
}

/** Creates its tables in `databaseUrl` (a scratch database) and stocks `products` products. */
export async function databaseOnlyOrders(options: {
  databaseUrl: string;
  clients: number;
  connections: number;
  products: number;
  initialStock: number;
}): Promise<DatabaseOnlyOrders> {
  // As many connections as each service's pool: the clients queue for them as the services'
  // requests do (and 64 more would not fit beside the services' under max_connections 100).
  const sql = openSql(options.databaseUrl, { max: options.connections, fetch_types: false });
  await sql.unsafe(`
    create table product (id int primary key, price_cents bigint not null,
                          stock int not null check (stock >= 0));
    create table orders (id uuid primary key, account_id uuid not null,
                         total_cents bigint not null, create_time timestamptz not null default now());
    create table order_items (order_id uuid not null references orders (id), product_id int not null,
                              quantity int not null, price_cents bigint not null,
                              primary key (order_id, product_id))`);
  await sql`insert into product (id, price_cents, stock)
            select i, 100 + i, ${options.initialStock} from generate_series(0, ${options.products - 1}) i`;
  const accounts = Array.from({ length: options.clients }, () => randomUUID());

  /** One order, one transaction; false when some item had too little stock (nothing written). */
  const placeOrder = (tx: postgres.TransactionSql, account: string) => async () => {
    // One line per product, in id order: the lock order every transaction shares.
    const byProduct = new Map<number, number>();
    for (const item of randomItems(options.products)) {
      byProduct.set(item.product, (byProduct.get(item.product) ?? 0) + item.quantity);
    }
    const items = [...byProduct].sort(([a], [b]) => a - b);
    let total = 0;
    const prices: number[] = [];
    for (const [product, quantity] of items) {
      const [row] = await tx<{ price_cents: string }[]>`
        update product set stock = stock - ${quantity}
        where id = ${product} and stock >= ${quantity} returning price_cents`;
      if (!row) throw new OutOfStock();
      prices.push(Number(row.price_cents));
      total += Number(row.price_cents) * quantity;
    }
    const id = randomUUID();
    await tx`insert into orders (id, account_id, total_cents) values (${id}, ${account}, ${total})`;
    await tx`insert into order_items (order_id, product_id, quantity, price_cents)
             select ${id}, * from unnest(${pgArray(items.map(([p]) => p))}::int[],
                                         ${pgArray(items.map(([, q]) => q))}::int[],
                                         ${pgArray(prices)}::bigint[])`;
  };

  return {
    async run(seconds) {
      const latencies: number[] = [];
      let refused = 0;
      const until = performance.now() + seconds * 1000;
      await Promise.all(
        accounts.map(async (account) => {
          while (performance.now() < until) {
            const started = performance.now();
            try {
              await sql.begin((tx) => placeOrder(tx, account)());
              latencies.push(performance.now() - started);
            } catch (error) {
              if (!(error instanceof OutOfStock)) throw error;
              refused++;
            }
          }
        }),
      );
      return { orders: latencies.length, refused, latencies };
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

class OutOfStock extends Error {}
