// PostgreSQL backends of the catalog terminated mid-transaction under load: postgres.js 3.4.9
// threw an uncaught TypeError from `nextWrite` on the reserved connection of `db.transaction`
// and took the process down (porsager/postgres#1154, #1208). patches/postgres+3.4.9.patch,
// applied at install by patch-package, makes those queries fail with CONNECTION_CLOSED instead.
// This suite fails if the patch is missing: vitest reports the uncaught exception.
import { sql } from "drizzle-orm";
import type postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { executeRows } from "../../platform/data/database.js";
import { uuidv7 } from "../../platform/data/ids.js";
import { openSql } from "../../platform/data/postgres-connection.js";
import { aProduct, type CatalogTestbed, openCatalogTestbed } from "./testing.js";

describe("the catalog when its backends are terminated", () => {
  let bed: CatalogTestbed;
  let admin: postgres.Sql;

  beforeAll(async () => {
    bed = await openCatalogTestbed();
    admin = openSql(process.env.TEST_DATABASE_URL ?? "", { max: 1 });
  });
  afterAll(async () => {
    await admin?.end();
    await bed?.close();
  });

  it("keeps serving through pg_terminate_backend mid-transaction, and stock adds up", async () => {
    const products = await Promise.all([1, 2, 3].map(() => aProduct(bed.store, { stock: 5000 })));
    const [current] = await executeRows<{ name: string }>(
      bed.database.db,
      sql`select current_database() as name`,
    );
    const name = current?.name ?? "";
    let stop = false;
    let terminated = 0;
    // Twenty rounds 100 ms apart: enough to hit transactions mid-flight, few enough that
    // postgres.js's reconnect backoff stays short.
    const killer = (async () => {
      for (let round = 0; round < 20 && !stop; round++) {
        // Every backend of this test's own database but ours.
        const rows = await admin`
          select pg_terminate_backend(pid) from pg_stat_activity
          where datname = ${name} and state in ('active', 'idle in transaction')`;
        terminated += rows.length;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const reserved = new Map<string, number>();
    let failures = 0;
    const worker = async () => {
      for (let i = 0; i < 40; i++) {
        const orderId = uuidv7();
        const product = products[i % 3];
        if (!product) throw new Error("no product");
        try {
          const outcome = await bed.store.reservations.reserve(
            orderId,
            [{ productId: product.id, quantity: 1 }],
            600,
          );
          if ("reservation" in outcome) reserved.set(orderId, 1);
        } catch {
          failures++;
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    stop = true;
    await killer;
    expect(terminated).toBeGreaterThan(0);
    expect(failures).toBeGreaterThan(0);
    // Still serving, without a restart: a fresh reservation works.
    const after = await bed.store.reservations.reserve(
      uuidv7(),
      [{ productId: products[0]?.id ?? "", quantity: 1 }],
      600,
    );
    expect("reservation" in after).toBe(true);
    // Whatever failed took nothing: the stock taken is exactly what pending reservations hold.
    let remaining = 0;
    for (const product of products) {
      remaining += (await bed.store.products.findById(product.id))?.stock ?? 0;
    }
    const [held] = await executeRows<{ units: number }>(
      bed.database.db,
      sql`select coalesce(sum(i.quantity), 0)::int as units from reservation_items i
          join reservations r using (order_id) where r.state = 'pending'`,
    );
    expect(3 * 5000 - remaining).toBe(held?.units);
    expect(held?.units).toBeGreaterThanOrEqual(reserved.size);
  }, 90_000);
});
