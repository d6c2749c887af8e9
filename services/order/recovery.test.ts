// Recovery's two judgements of doubt: whose pending attempts are surely dead (a restarted
// instance's predecessor's, at once; anyone else's only after RECOVERY_AFTER_MS), and when
// "no such reservation" from the catalog proves that none will appear.
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReservationState } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { uuidv7 } from "../../platform/data/ids.js";
import { bearer, rejection } from "../../platform/testing.js";
import { recoverOrders } from "./recovery.js";
import { OrderStore } from "./store.js";
import {
  adminAuth,
  customer,
  type OrderTestbed,
  openOrderTestbed,
  product,
  silentLogger,
  stockOf,
} from "./testing.js";

describe("order recovery", () => {
  let bed: OrderTestbed;
  beforeAll(async () => {
    bed = await openOrderTestbed();
  });
  afterAll(() => bed?.close());

  const recover = (store: OrderStore, lateReserveMs = 0) =>
    recoverOrders({
      store,
      peers: bed.peers,
      logger: silentLogger,
      abandonedAfterMs: 60_000,
      settleAfterMs: 0,
      lateReserveMs,
    });

  it("fails its predecessor's pending attempts at once, and not a live replica's", async () => {
    const buyer = await customer(bed.accounts, bed.authority);
    const store = (instance: string, boot: string) =>
      new OrderStore(bed.database.db, { owner: { instance, boot } });
    const dead = store("host-a:50053", "boot-1");
    const replica = store("host-b:50053", "boot-1");
    const restarted = store("host-a:50053", "boot-2");
    const key = `key-${uuidv7()}`;
    const begin = async (s: OrderStore, idempotencyKey?: string) => {
      const begun = await s.attempts.begin({ id: uuidv7(), accountId: buyer.id, idempotencyKey });
      if (!begun.created) throw new Error("not created");
      return begun.attempt.id;
    };
    const orphan = await begin(dead, key);
    const live = await begin(replica);
    const own = await begin(restarted);

    const report = await recover(restarted);
    expect(report.failed).toBe(1);
    expect((await bed.store.attempts.findAttempt(orphan))?.status).toBe("failed");
    expect((await bed.store.attempts.findAttempt(live))?.status).toBe("pending");
    expect((await bed.store.attempts.findAttempt(own))?.status).toBe("pending");
    // The client's retry with the same key starts a fresh attempt at once.
    const retried = await restarted.attempts.begin({
      id: uuidv7(),
      accountId: buyer.id,
      idempotencyKey: key,
    });
    expect(retried.created).toBe(true);
    // A store without an owner (older rows, tests) judges no one.
    expect(await bed.store.attempts.failPredecessors(100)).toEqual([]);
  });

  it("does not take NOT_FOUND from the catalog as settled while a reserve may still land", async () => {
    const buyer = await customer(bed.accounts, bed.authority);
    const productId = await product(bed.catalog, await adminAuth(bed.authority), 100, 10);
    const begun = await bed.store.attempts.begin({
      id: uuidv7(),
      accountId: buyer.id,
      idempotencyKey: undefined,
    });
    if (!begun.created) throw new Error("not created");
    const orderId = begun.attempt.id;
    // The saga timed out on ReserveStock and failed the order, unsettled.
    await bed.store.attempts.fail(
      orderId,
      { reason: "peer-unavailable", peer: "catalog", timedOut: true },
      false,
    );

    const first = await recover(bed.store, 60_000);
    expect(first.remaining).toBeGreaterThanOrEqual(1);
    expect((await bed.store.attempts.findAttempt(orderId))?.settled).toBe(false);

    // The late reserve lands in the catalog now.
    const service = bearer(await bed.authority.issueServiceToken("order"));
    await bed.catalog.reserveStock({ orderId, items: [{ productId, quantity: 4 }] }, service);
    expect(await stockOf(bed.catalog, productId)).toBe(6);

    await recover(bed.store, 60_000);
    expect((await bed.store.attempts.findAttempt(orderId))?.settled).toBe(true);
    expect(await stockOf(bed.catalog, productId)).toBe(10);
    const again = await rejection(bed.catalog.commitReservation({ orderId }, service));
    expect(again.code).toBe(Code.FailedPrecondition);
    const { reservation } = await bed.catalog.releaseStock({ orderId }, service);
    expect(reservation?.state).toBe(ReservationState.RELEASED);
  });
});
