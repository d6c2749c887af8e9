// WatchOrders: the owner of every order (or an admin) gets each order as it is, then each change
// the service makes (ShipOrder, CancelOrder: it records OrderShipped / OrderCancelled itself);
// anyone else, and unknown ids, get NOT_FOUND without learning which exist.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Order, OrderService, OrderStatus } from "../../gen/bazaar/order/v1/order_pb.js";
import { uuidv7 } from "../../platform/data/ids.js";
import { OutboxTail } from "../../platform/events/tail.js";
import { StreamLimits } from "../../platform/events/watch.js";
import { routerTransport } from "../../platform/testing.js";
import { orderSubjects } from "./live.js";
import { orderRoutes } from "./service.js";
import {
  adminAuth,
  customer,
  type OrderTestbed,
  openOrderTestbed,
  product,
  silentLogger,
} from "./testing.js";

let bed: OrderTestbed;
let tail: OutboxTail;
let watching: ReturnType<typeof createClient<typeof OrderService>>;

beforeAll(async () => {
  bed = await openOrderTestbed();
  tail = new OutboxTail({
    db: bed.database.db,
    subjects: orderSubjects,
    intervalMs: 20,
    retentionMs: 60_000,
    logger: silentLogger,
  });
  tail.start();
  const live = {
    tail,
    limits: new StreamLimits({ perProcess: 100, perCaller: 10, perConnection: 100 }),
    settings: { heartbeatMs: 60_000 },
  };
  watching = createClient(
    OrderService,
    routerTransport(
      orderRoutes({
        store: bed.store,
        peers: bed.peers,
        logger: silentLogger,
        duplicateWaitMs: 20_000,
        live,
      }),
      bed.authority,
    ),
  );
}, 60_000);

afterAll(async () => {
  await tail?.stop();
  await bed?.close();
});

function reader(ids: string[], options: object) {
  const abort = new AbortController();
  const seen: Order[] = [];
  const done = (async () => {
    for await (const res of watching.watchOrders(
      { orderIds: ids, cursor: "" },
      { signal: abort.signal, ...options },
    )) {
      if (res.update?.order) seen.push(res.update.order);
    }
  })().catch((error: unknown) => (abort.signal.aborted ? undefined : ConnectError.from(error)));
  return { seen, done, abort: () => abort.abort() };
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("WatchOrders", () => {
  it("streams the owner's orders as they are, then each change", async () => {
    const admin = await adminAuth(bed.authority);
    const productId = await product(bed.catalog, admin, 500, 10);
    const buyer = await customer(bed.accounts, bed.authority);
    const place = async () =>
      (await bed.orders.createOrder({ items: [{ productId, quantity: 1 }] }, buyer.auth))
        .order as Order;
    const [first, second] = [await place(), await place()];
    const stream = reader([first.id, second.id], buyer.auth);
    await until(() => stream.seen.length === 2);
    expect(stream.seen.map((o) => o.id)).toEqual([first.id, second.id]);
    expect(stream.seen[0]?.totalCents).toBe(500n);
    // The changes, through the service: the admin ships one, the buyer cancels the other.
    await bed.orders.shipOrder({ id: first.id }, admin);
    await bed.orders.cancelOrder({ id: second.id, reason: "changed my mind" }, buyer.auth);
    await until(() => stream.seen.length === 4);
    stream.abort();
    expect(stream.seen.map((o) => [o.id, o.status])).toEqual([
      [first.id, OrderStatus.PLACED],
      [second.id, OrderStatus.PLACED],
      [first.id, OrderStatus.SHIPPED],
      [second.id, OrderStatus.CANCELLED],
    ]);
    // The order as it now is, whole: its items, total and reason.
    expect(stream.seen[3]).toMatchObject({ totalCents: 500n, cancelReason: "changed my mind" });
    expect(stream.seen[3]?.items.map((item) => item.productId)).toEqual([productId]);
    // A repeated ship changes nothing and so sends nothing.
    const again = reader([first.id], buyer.auth);
    await until(() => again.seen.length === 1);
    await bed.orders.shipOrder({ id: first.id }, admin);
    await new Promise((resolve) => setTimeout(resolve, 200));
    again.abort();
    expect(again.seen.map((o) => o.status)).toEqual([OrderStatus.SHIPPED]);

    // An admin may watch any order; another customer none of them.
    const asAdmin = reader([first.id], admin);
    await until(() => asAdmin.seen.length === 1);
    asAdmin.abort();
    const other = await customer(bed.accounts, bed.authority);
    const foreign = reader([first.id], other.auth);
    expect((await foreign.done)?.code).toBe(Code.NotFound);
    const mixed = reader([uuidv7()], buyer.auth);
    expect((await mixed.done)?.code).toBe(Code.NotFound);
    expect((await reader([first.id], {}).done)?.code).toBe(Code.Unauthenticated);
    expect(tail.watchedThings).toBe(0);
  }, 30_000);
});
