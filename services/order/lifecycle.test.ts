// An order's life after checkout (CancelOrder, ShipOrder, ListOrders) against the real account
// and catalog services over in-memory transports, on real PostgreSQL: statuses, idempotence,
// who may do what, a cancel racing a ship, and the stock coming back exactly once whatever
// fails between the two databases.
import { Code, ConnectError } from "@connectrpc/connect";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReservationState } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { type Order, OrderOutcome, OrderStatus } from "../../gen/bazaar/order/v1/order_pb.js";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { uuidv7 } from "../../platform/data/ids.js";
import { bearer, rejection } from "../../platform/testing.js";
import { recoverOrders } from "./recovery.js";
import { orders } from "./schema.js";
import {
  adminAuth,
  customer,
  failing,
  type OrderTestbed,
  openOrderTestbed,
  product,
  silentLogger,
  stockOf,
} from "./testing.js";

describe("an order's life after checkout", () => {
  let h: OrderTestbed;
  let admin: Awaited<ReturnType<typeof adminAuth>>;
  let asOrderService: ReturnType<typeof bearer>;
  let asCatalogService: ReturnType<typeof bearer>;

  beforeAll(async () => {
    h = await openOrderTestbed();
    admin = await adminAuth(h.authority);
    asOrderService = bearer(await h.authority.issueServiceToken("order"));
    asCatalogService = bearer(await h.authority.issueServiceToken("catalog"));
  });
  afterAll(async () => {
    await h?.close();
  });

  const recover = () =>
    recoverOrders({
      store: h.store,
      peers: h.peers,
      logger: silentLogger,
      abandonedAfterMs: 60_000,
      settleAfterMs: 0,
    });

  /** The reservation's state in the catalog (a commit answers it without changing a settled one). */
  const reservationState = async (orderId: string) =>
    (await h.catalog.commitReservation({ orderId }, asOrderService)).reservation?.state;

  async function placed(quantities: number[], stock = 10) {
    const buyer = await customer(h.accounts, h.authority);
    const products = await Promise.all(quantities.map(() => product(h.catalog, admin, 125, stock)));
    const { order } = await h.orders.createOrder(
      { items: products.map((productId, i) => ({ productId, quantity: quantities[i] ?? 1 })) },
      buyer.auth,
    );
    if (!order) throw new Error("no order");
    return { buyer, products, order };
  }

  const stocks = (ids: string[]) => Promise.all(ids.map((id) => stockOf(h.catalog, id)));
  const seconds = (order: Order | undefined) => order?.updateTime?.seconds;

  describe("statuses", () => {
    it("a new order is PLACED, and the history shows each order with its status", async () => {
      const { buyer, order, products } = await placed([2]);
      expect(order.status).toBe(OrderStatus.PLACED);
      expect(order.cancelReason).toBe("");
      expect(Number(seconds(order))).toBeGreaterThanOrEqual(Number(order.createTime?.seconds));
      const { order: second } = await h.orders.createOrder(
        { items: [{ productId: products[0] ?? "", quantity: 1 }] },
        buyer.auth,
      );
      await h.orders.cancelOrder({ id: second?.id ?? "", reason: "" }, buyer.auth);
      const history = await h.orders.listOrdersForAccount({ accountId: buyer.id }, buyer.auth);
      expect(history.orders.map((o) => [o.id, o.status])).toEqual([
        [second?.id, OrderStatus.CANCELLED],
        [order.id, OrderStatus.PLACED],
      ]);
    });
  });

  describe("CancelOrder", () => {
    it("cancels the owner's order and returns exactly its stock, once, however often asked", async () => {
      const { buyer, order, products } = await placed([3, 1]);
      expect(await stocks(products)).toEqual([7, 9]);
      const { order: cancelled } = await h.orders.cancelOrder(
        { id: order.id, reason: "  changed my mind  " },
        buyer.auth,
      );
      expect(cancelled?.status).toBe(OrderStatus.CANCELLED);
      expect(cancelled?.cancelReason).toBe("changed my mind");
      expect(cancelled?.items).toEqual(order.items);
      expect(await stocks(products)).toEqual([10, 10]);
      expect(await reservationState(order.id)).toBe(ReservationState.RETURNED);

      // Again, in parallel and later, by the owner and an admin: the same answer, no more stock.
      const again = await Promise.all([
        h.orders.cancelOrder({ id: order.id, reason: "other words" }, buyer.auth),
        h.orders.cancelOrder({ id: order.id, reason: "" }, admin),
        h.orders.cancelOrder({ id: order.id, reason: "" }, buyer.auth),
      ]);
      for (const answer of again) expect(answer.order).toEqual(cancelled);
      expect((await h.orders.getOrder({ id: order.id }, buyer.auth)).order).toEqual(cancelled);
      expect(await recover()).toMatchObject({ returned: 0 });
      expect(await stocks(products)).toEqual([10, 10]);
    });

    it("an admin may cancel anyone's order", async () => {
      const { order, products } = await placed([4]);
      const { order: cancelled } = await h.orders.cancelOrder(
        { id: order.id, reason: "fraud check" },
        admin,
      );
      expect(cancelled?.status).toBe(OrderStatus.CANCELLED);
      expect(await stocks(products)).toEqual([10]);
    });

    it("a cancelled order's outcome stays CONFIRMED for the catalog's sweeper", async () => {
      const { buyer, order } = await placed([1]);
      await h.orders.cancelOrder({ id: order.id, reason: "" }, buyer.auth);
      const { outcome } = await h.orders.getOrderOutcome({ orderId: order.id }, asCatalogService);
      expect(outcome).toBe(OrderOutcome.CONFIRMED);
    });

    it("commits first when the order's commit never reached the catalog", async () => {
      const buyer = await customer(h.accounts, h.authority);
      const p = await product(h.catalog, admin, 100, 10);
      const down = new ConnectError("connection refused", Code.Unavailable);
      const lost = h.ordersWith({
        peers: h.peersWith((t) => ({
          ...t,
          catalog: failing(t.catalog, "CommitReservation", () => down),
        })),
      });
      const { order } = await lost.createOrder(
        { items: [{ productId: p, quantity: 6 }] },
        buyer.auth,
      );
      const id = order?.id ?? "";
      const [row] = await h.database.db
        .select({ settled: orders.settled })
        .from(orders)
        .where(eq(orders.id, id));
      expect(row?.settled).toBe(false);
      await h.orders.cancelOrder({ id, reason: "" }, buyer.auth);
      expect(await stockOf(h.catalog, p)).toBe(10);
      expect(await reservationState(id)).toBe(ReservationState.RETURNED);
      expect(await recover()).toMatchObject({ returned: 0, remaining: 0 });
      expect(await stockOf(h.catalog, p)).toBe(10);
    });

    it("stays cancelled when the catalog does not answer, and recovery returns the stock once", async () => {
      const { buyer, order, products } = await placed([5]);
      const down = new ConnectError("connection refused", Code.Unavailable);
      const cut = h.ordersWith({
        peers: h.peersWith((t) => ({
          ...t,
          catalog: failing(t.catalog, "ReturnStock", () => down),
        })),
      });
      const { order: cancelled } = await cut.cancelOrder({ id: order.id, reason: "" }, buyer.auth);
      expect(cancelled?.status).toBe(OrderStatus.CANCELLED);
      expect(await stocks(products)).toEqual([5]);
      // A repeat while the return is unsettled answers the same order and returns nothing.
      expect((await cut.cancelOrder({ id: order.id, reason: "x" }, buyer.auth)).order).toEqual(
        cancelled,
      );
      const first = await recover();
      expect(first.returned).toBeGreaterThanOrEqual(1);
      expect(await stocks(products)).toEqual([10]);
      expect(await recover()).toMatchObject({ returned: 0 });
      expect(await stocks(products)).toEqual([10]);
      // Clearing the marker does not change what the owner sees.
      expect((await h.orders.getOrder({ id: order.id }, buyer.auth)).order).toEqual(cancelled);
    });

    it("a shipped order cannot be cancelled: FAILED_PRECONDITION naming its status", async () => {
      const { buyer, order, products } = await placed([2]);
      const { order: shipped } = await h.orders.shipOrder({ id: order.id }, admin);
      for (const auth of [buyer.auth, admin]) {
        const error = await rejection(h.orders.cancelOrder({ id: order.id, reason: "" }, auth));
        expect(error.code).toBe(Code.FailedPrecondition);
        expect(error.rawMessage).toContain("SHIPPED");
      }
      expect((await h.orders.getOrder({ id: order.id }, buyer.auth)).order).toEqual(shipped);
      expect(await stocks(products)).toEqual([8]);
    });
  });

  describe("ShipOrder", () => {
    it("ships a placed order once; shipping again answers it unchanged", async () => {
      const { buyer, order, products } = await placed([2]);
      const { order: shipped } = await h.orders.shipOrder({ id: order.id }, admin);
      expect(shipped?.status).toBe(OrderStatus.SHIPPED);
      expect(shipped?.cancelReason).toBe("");
      const again = await Promise.all(
        [1, 2, 3].map(() => h.orders.shipOrder({ id: order.id }, admin)),
      );
      for (const answer of again) expect(answer.order).toEqual(shipped);
      expect((await h.orders.getOrder({ id: order.id }, buyer.auth)).order?.status).toBe(
        OrderStatus.SHIPPED,
      );
      expect(await stocks(products)).toEqual([8]);
    });

    it("a cancelled order cannot be shipped", async () => {
      const { buyer, order, products } = await placed([2]);
      await h.orders.cancelOrder({ id: order.id, reason: "" }, buyer.auth);
      const error = await rejection(h.orders.shipOrder({ id: order.id }, admin));
      expect(error.code).toBe(Code.FailedPrecondition);
      expect(error.rawMessage).toContain("CANCELLED");
      expect(await stocks(products)).toEqual([10]);
    });
  });

  it("a cancel racing a ship: exactly one wins, the other is FAILED_PRECONDITION naming it", async () => {
    const buyer = await customer(h.accounts, h.authority);
    const p = await product(h.catalog, admin, 100, 1000);
    const rounds = 30;
    const won = { cancel: 0, ship: 0 };
    let shippedUnits = 0;
    for (let round = 0; round < rounds; round++) {
      const quantity = 1 + (round % 4);
      const { order } = await h.orders.createOrder(
        { items: [{ productId: p, quantity }] },
        buyer.auth,
      );
      const id = order?.id ?? "";
      // Each goes first in turn.
      const cancelling = () => h.orders.cancelOrder({ id, reason: "race" }, buyer.auth);
      const shipping = () => h.orders.shipOrder({ id }, admin);
      const [cancel, ship] =
        round % 2 === 0
          ? await Promise.allSettled([cancelling(), shipping()])
          : await Promise.allSettled([shipping(), cancelling()]).then(([s, c]) => [c, s] as const);
      const outcomes = [cancel, ship].map((o) => o.status);
      expect(outcomes.sort()).toEqual(["fulfilled", "rejected"]);
      const loser = [cancel, ship].find((o) => o.status === "rejected");
      const error = ConnectError.from(loser?.status === "rejected" ? loser.reason : undefined);
      expect(error.code).toBe(Code.FailedPrecondition);
      if (cancel.status === "fulfilled") {
        won.cancel++;
        expect(cancel.value.order?.status).toBe(OrderStatus.CANCELLED);
        expect(error.rawMessage).toContain("CANCELLED");
      } else {
        won.ship++;
        shippedUnits += quantity;
        expect(error.rawMessage).toContain("SHIPPED");
      }
      const { order: now } = await h.orders.getOrder({ id }, admin);
      expect(now?.status).toBe(
        cancel.status === "fulfilled" ? OrderStatus.CANCELLED : OrderStatus.SHIPPED,
      );
    }
    expect(won.cancel + won.ship).toBe(rounds);
    console.log(`cancel racing ship, ${rounds} rounds: ${JSON.stringify(won)}`);
    // Stock = initial − Σ quantities of the orders that stayed shipped.
    expect(await stockOf(h.catalog, p)).toBe(1000 - shippedUnits);
  });

  describe("who may do what, and bad input: each a clear error, nothing changed", () => {
    it("a customer may not ship, not even their own order", async () => {
      const { buyer, order, products } = await placed([1]);
      const error = await rejection(h.orders.shipOrder({ id: order.id }, buyer.auth));
      expect(error.code).toBe(Code.PermissionDenied);
      expect((await h.orders.getOrder({ id: order.id }, buyer.auth)).order).toEqual(order);
      expect(await stocks(products)).toEqual([9]);
    });

    it("someone else's order is NOT_FOUND, worded as an unknown id, and stays as it was", async () => {
      const { order, products } = await placed([2]);
      const stranger = await customer(h.accounts, h.authority);
      const foreign = await rejection(
        h.orders.cancelOrder({ id: order.id, reason: "" }, stranger.auth),
      );
      const unknownId = uuidv7();
      const unknown = await rejection(
        h.orders.cancelOrder({ id: unknownId, reason: "" }, stranger.auth),
      );
      expect(foreign.code).toBe(Code.NotFound);
      expect(unknown.code).toBe(Code.NotFound);
      expect(foreign.rawMessage.replace(order.id, "ID")).toBe(
        unknown.rawMessage.replace(unknownId, "ID"),
      );
      expect((await h.orders.getOrder({ id: order.id }, admin)).order).toEqual(order);
      expect(await stocks(products)).toEqual([8]);
      expect((await rejection(h.orders.shipOrder({ id: unknownId }, admin))).code).toBe(
        Code.NotFound,
      );
    });

    it("a failed attempt is no order: NOT_FOUND", async () => {
      const buyer = await customer(h.accounts, h.authority);
      const p = await product(h.catalog, admin, 100, 1);
      await rejection(h.orders.createOrder({ items: [{ productId: p, quantity: 5 }] }, buyer.auth));
      const [failed] = await h.database.db
        .select({ id: orders.id })
        .from(orders)
        .where(eq(orders.accountId, buyer.id));
      const error = await rejection(
        h.orders.cancelOrder({ id: failed?.id ?? "", reason: "" }, buyer.auth),
      );
      expect(error.code).toBe(Code.NotFound);
    });

    it("a reason over 500 characters and a malformed id are INVALID_ARGUMENT naming the field", async () => {
      const { buyer, order, products } = await placed([1]);
      const long = await rejection(
        h.orders.cancelOrder({ id: order.id, reason: "é".repeat(501) }, buyer.auth),
      );
      expect(long.code).toBe(Code.InvalidArgument);
      const [details] = long.findDetails(BadRequestSchema);
      expect(details?.fieldViolations.map((v) => v.field)).toEqual(["reason"]);
      // 500 characters (not UTF-16 units) are fine.
      const { order: cancelled } = await h.orders.cancelOrder(
        { id: order.id, reason: "😀".repeat(500) },
        buyer.auth,
      );
      expect(cancelled?.cancelReason).toBe("😀".repeat(500));
      const malformed = await rejection(h.orders.cancelOrder({ id: "42", reason: "" }, buyer.auth));
      expect(malformed.code).toBe(Code.InvalidArgument);
      expect(malformed.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field).toBe("id");
      expect(await stocks(products)).toEqual([10]);
    });

    it("no token is UNAUTHENTICATED", async () => {
      const { order } = await placed([1]);
      for (const call of [
        h.orders.cancelOrder({ id: order.id, reason: "" }),
        h.orders.shipOrder({ id: order.id }),
        h.orders.listOrders({}),
      ]) {
        expect((await rejection(call)).code).toBe(Code.Unauthenticated);
      }
      expect((await h.orders.getOrder({ id: order.id }, admin)).order).toEqual(order);
    });
  });

  describe("ListOrders", () => {
    it("lists every account's orders newest first, by status, page by page; admin only", async () => {
      const first = await placed([1]);
      const second = await placed([1]);
      const third = await placed([1]);
      await h.orders.cancelOrder({ id: second.order.id, reason: "" }, admin);
      await h.orders.shipOrder({ id: third.order.id }, admin);

      const all = (await h.orders.listOrders({ take: 100 }, admin)).orders.map((o) => o.id);
      const ours = [third.order.id, second.order.id, first.order.id];
      expect(all.filter((id) => ours.includes(id))).toEqual(ours);
      const page = await h.orders.listOrders({ skip: 1, take: 2 }, admin);
      expect(page.orders.map((o) => o.id)).toEqual(all.slice(1, 3));

      for (const [status, id] of [
        [OrderStatus.PLACED, first.order.id],
        [OrderStatus.CANCELLED, second.order.id],
        [OrderStatus.SHIPPED, third.order.id],
      ] as const) {
        const listed = (await h.orders.listOrders({ status, take: 100 }, admin)).orders;
        expect(listed.every((o) => o.status === status)).toBe(true);
        expect(listed.map((o) => o.id)).toContain(id);
      }

      const denied = await rejection(h.orders.listOrders({}, first.buyer.auth));
      expect(denied.code).toBe(Code.PermissionDenied);
      const badTake = await rejection(h.orders.listOrders({ take: 101 }, admin));
      expect(badTake.code).toBe(Code.InvalidArgument);
      const badStatus = await rejection(h.orders.listOrders({ status: 9 as OrderStatus }, admin));
      expect(badStatus.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field).toBe("status");
    });
  });
});
