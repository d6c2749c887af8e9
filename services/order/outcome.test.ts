// The order service towards the catalog: GetOrderOutcome (for the sweeper, and no one else),
// and CreateOrder handing its peers no more than its own caller's time left.
import { Code, type Transport } from "@connectrpc/connect";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderOutcome } from "../../gen/bazaar/order/v1/order_pb.js";
import { uuidv7 } from "../../platform/data/ids.js";
import { bearer, rejection, waitUntil } from "../../platform/testing.js";
import { orders } from "./schema.js";
import { adminAuth, customer, type OrderTestbed, openOrderTestbed, product } from "./testing.js";

describe("GetOrderOutcome", () => {
  let bed: OrderTestbed;
  let asCatalog: ReturnType<typeof bearer>;

  beforeAll(async () => {
    bed = await openOrderTestbed();
    asCatalog = bearer(await bed.authority.issueServiceToken("catalog"));
  });
  afterAll(() => bed?.close());

  const outcome = async (orderId: string) =>
    (await bed.orders.getOrderOutcome({ orderId }, asCatalog)).outcome;

  it("answers each state of an attempt, and UNKNOWN for an order never written", async () => {
    const buyer = await customer(bed.accounts, bed.authority);
    const productId = await product(bed.catalog, await adminAuth(bed.authority), 100, 1);
    const { order } = await bed.orders.createOrder(
      { items: [{ productId, quantity: 1 }] },
      buyer.auth,
    );
    expect(await outcome(order?.id ?? "")).toBe(OrderOutcome.CONFIRMED);

    const refused = await rejection(
      bed.orders.createOrder({ items: [{ productId, quantity: 1 }] }, buyer.auth),
    );
    expect(refused.code).toBe(Code.FailedPrecondition);
    const [failed] = await bed.database.db
      .select({ id: orders.id })
      .from(orders)
      .where(eq(orders.status, "failed"));
    expect(await outcome(failed?.id ?? "")).toBe(OrderOutcome.FAILED);

    const begun = await bed.store.attempts.begin({
      id: uuidv7(),
      accountId: buyer.id,
      idempotencyKey: undefined,
    });
    if (!begun.created) throw new Error("not created");
    expect(await outcome(begun.attempt.id)).toBe(OrderOutcome.PENDING);

    expect(await outcome(uuidv7())).toBe(OrderOutcome.UNKNOWN);
  });

  it("is the catalog's alone, and names a malformed id", async () => {
    const asOrder = bearer(await bed.authority.issueServiceToken("order"));
    const buyer = await customer(bed.accounts, bed.authority);
    for (const auth of [asOrder, buyer.auth]) {
      const denied = await rejection(bed.orders.getOrderOutcome({ orderId: uuidv7() }, auth));
      expect(denied.code).toBe(Code.PermissionDenied);
    }
    const anonymous = await rejection(bed.orders.getOrderOutcome({ orderId: uuidv7() }));
    expect(anonymous.code).toBe(Code.Unauthenticated);
    const malformed = await rejection(bed.orders.getOrderOutcome({ orderId: "x" }, asCatalog));
    expect(malformed.code).toBe(Code.InvalidArgument);
    expect(malformed.rawMessage).toContain("order_id");
  });

  it("CreateOrder hands its peers no more than the time its caller has left", async () => {
    const seen: (number | undefined)[] = [];
    const peers = bed.peersWith((t) => ({
      account: recording(t.account, seen),
      catalog: recording(t.catalog, seen),
    }));
    const buyer = await customer(bed.accounts, bed.authority);
    const productId = await product(bed.catalog, await adminAuth(bed.authority), 100, 5);
    await bed
      .ordersWith({ peers })
      .createOrder({ items: [{ productId, quantity: 1 }] }, { ...buyer.auth, timeoutMs: 1_500 });
    // BatchGetAccounts, ReserveStock (which answers the prices), and CommitReservation, which
    // goes out once the order is answered.
    await waitUntil("the commit", () => seen.length >= 3, { timeoutMs: 5_000, intervalMs: 10 });
    expect(seen.length).toBe(3);
    for (const timeoutMs of seen) {
      expect(timeoutMs).toBeGreaterThan(0);
      expect(timeoutMs).toBeLessThanOrEqual(1_500);
    }
  });
});

function recording(transport: Transport, seen: (number | undefined)[]): Transport {
  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) => {
      seen.push(timeoutMs);
      return transport.unary(method, signal, timeoutMs, header, input, contextValues);
    },
    stream: (method, signal, timeoutMs, header, input, contextValues) =>
      transport.stream(method, signal, timeoutMs, header, input, contextValues),
  };
}
