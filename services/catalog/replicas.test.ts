// Two replicas' background workers running at once over the same rows: the reservation sweeper
// and the search indexer (one at a time, under an advisory lock) each work without overlap, so every
// row is handled exactly once and no worker waits on the other.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uuidv7 } from "../../platform/data/ids.js";
import type { OrderOutcomeName } from "./order-outcomes.js";
import { drainOutbox } from "./search/outbox.js";
import { sweepExpiredReservations } from "./sweeper.js";
import { aProduct, type CatalogTestbed, openCatalogTestbed } from "./testing.js";

describe("two workers at once", () => {
  let bed: CatalogTestbed;
  const ttlSeconds = 60;

  beforeAll(async () => {
    bed = await openCatalogTestbed();
  });
  afterAll(() => bed?.close());

  it("two sweepers settle each expired reservation once, asking the order service once", async () => {
    const product = await aProduct(bed.store, { stock: 1000 });
    const orderIds = Array.from({ length: 60 }, () => uuidv7());
    for (const orderId of orderIds) {
      await bed.store.reservations.reserve(
        orderId,
        [{ productId: product.id, quantity: 1 }],
        ttlSeconds,
      );
    }
    const asked: string[] = [];
    // Every other order was confirmed; the rest failed.
    const outcomes = async (orderId: string): Promise<OrderOutcomeName> => {
      asked.push(orderId);
      await new Promise((resolve) => setTimeout(resolve, 2));
      return orderIds.indexOf(orderId) % 2 === 0 ? "confirmed" : "failed";
    };
    const later = new Date(Date.now() + (ttlSeconds + 5) * 1000);
    const options = { ttlSeconds, limit: 20 };
    const sweeper = async () => {
      const all = { committed: 0, released: 0 };
      for (;;) {
        const report = await sweepExpiredReservations(
          bed.store.reservations,
          outcomes,
          options,
          later,
        );
        if (report.committed.length + report.released.length + report.waiting.length === 0)
          return all;
        all.committed += report.committed.length;
        all.released += report.released.length;
      }
    };
    const [a, b] = await Promise.all([sweeper(), sweeper()]);
    expect(asked.length).toBe(60);
    expect(new Set(asked).size).toBe(60);
    expect((a?.committed ?? 0) + (b?.committed ?? 0)).toBe(30);
    expect((a?.released ?? 0) + (b?.released ?? 0)).toBe(30);
    // Both took a share: they ran side by side, not one after the other.
    expect(
      Math.min((a?.committed ?? 0) + (a?.released ?? 0), (b?.committed ?? 0) + (b?.released ?? 0)),
    ).toBeGreaterThan(0);
    expect((await bed.store.products.findById(product.id))?.stock).toBe(1000 - 30);
  });

  it("two search indexers on one database: each change pushed, one indexer at a time", async () => {
    // A first step without a cursor indexes everything; from there on only changes.
    await drainOutbox(bed.store, async () => {});
    const products = await Promise.all(Array.from({ length: 40 }, () => aProduct(bed.store)));
    const pushed: string[] = [];
    let inside = 0;
    let overlapped = false;
    const indexer = async (batch: { upsert: readonly { id: string }[] }) => {
      overlapped ||= inside++ > 0;
      await new Promise((resolve) => setTimeout(resolve, 5));
      pushed.push(...batch.upsert.map((p) => p.id));
      inside--;
    };
    const worker = async () => {
      let rows = 0;
      for (let idle = 0; idle < 20; ) {
        const read = await drainOutbox(bed.store, indexer, { limit: 5 });
        if (read === undefined || read === 0) idle++;
        rows += read ?? 0;
      }
      return rows;
    };
    await Promise.all([worker(), worker()]);
    const ours = pushed.filter((id) => products.some((p) => p.id === id));
    expect(new Set(ours).size).toBe(40);
    expect(ours.length).toBe(40);
    expect(overlapped).toBe(false);
  });

  it("an unreachable order service: stock stays held, asked once per pass, again after a backoff", async () => {
    const product = await aProduct(bed.store, { stock: 100 });
    const orderIds = Array.from({ length: 5 }, () => uuidv7());
    for (const orderId of orderIds) {
      await bed.store.reservations.reserve(
        orderId,
        [{ productId: product.id, quantity: 2 }],
        ttlSeconds,
      );
    }
    let asked = 0;
    const down = async (): Promise<OrderOutcomeName> => {
      asked++;
      throw new Error("connect ECONNREFUSED");
    };
    const later = new Date(Date.now() + (ttlSeconds + 5) * 1000);
    const options = { ttlSeconds, minWaitSeconds: 30, maxWaitSeconds: 300 };
    const report = await sweepExpiredReservations(bed.store.reservations, down, options, later);
    expect(asked).toBe(1);
    expect(report.waiting.length).toBeGreaterThanOrEqual(5);
    expect(report.released).toEqual([]);
    expect((await bed.store.products.findById(product.id))?.stock).toBe(90);
    expect((await bed.store.reservations.inDoubt(later, ttlSeconds)).units).toBeGreaterThanOrEqual(
      10,
    );
    // Backed off: not asked again at once, but after the wait.
    expect(
      (await sweepExpiredReservations(bed.store.reservations, down, options, later)).waiting,
    ).toEqual([]);
    const afterWait = new Date(later.getTime() + 31_000);
    const again = await sweepExpiredReservations(
      bed.store.reservations,
      async () => "failed",
      options,
      afterWait,
    );
    expect(again.released).toEqual(expect.arrayContaining(orderIds));
    expect((await bed.store.products.findById(product.id))?.stock).toBe(100);
  });
});
