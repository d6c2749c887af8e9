// ReserveStock, CommitReservation, ReleaseStock and the expiry sweeper: all-or-nothing,
// idempotent per order id, never oversold under parallel calls, on each real database.
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Reservation, ReservationState } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import {
  BadRequestSchema,
  PreconditionFailureSchema,
} from "../../gen/google/rpc/error_details_pb.js";
import { uuidv7 } from "../../platform/data/ids.js";
import { fromStatus } from "../../platform/http/batch-status.js";
import { bearer } from "../../platform/testing.js";
import { sweepExpiredReservations } from "./sweeper.js";
import { aProduct, type CatalogTestbed, openCatalogTestbed, rejection } from "./testing.js";

describe("CatalogService stock", () => {
  let bed: CatalogTestbed;
  const ttlSeconds = 600;

  beforeAll(async () => {
    bed = await openCatalogTestbed({ reservationTtlSeconds: ttlSeconds });
  });
  afterAll(() => bed?.close());

  const stockOf = async (id: string) => (await bed.store.products.findById(id))?.stock;
  const reserve = (orderId: string, items: { productId: string; quantity: number }[]) =>
    bed.client.reserveStock({ orderId, items }, bed.as.service);

  describe("ReserveStock", () => {
    it("takes stock for every item, merging a product given twice", async () => {
      const a = await aProduct(bed.store, { stock: 10 });
      const b = await aProduct(bed.store, { stock: 5 });
      const orderId = uuidv7();
      const before = Date.now();
      const { reservation } = await reserve(orderId, [
        { productId: a.id, quantity: 2 },
        { productId: b.id, quantity: 5 },
        { productId: a.id, quantity: 3 },
      ]);
      expect(reservation?.orderId).toBe(orderId);
      expect(reservation?.state).toBe(ReservationState.PENDING);
      expect(reservation?.items.map((i) => [i.productId, i.quantity])).toEqual(
        [
          [a.id, 5],
          [b.id, 5],
        ].sort(),
      );
      const expires = Number(reservation?.expireTime?.seconds) * 1000;
      expect(expires).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + ttlSeconds * 1000);
      expect(expires).toBeLessThanOrEqual(Date.now() + ttlSeconds * 1000);
      expect(await stockOf(a.id)).toBe(5);
      expect(await stockOf(b.id)).toBe(0);
    });

    it("answers the unit prices it took the stock at, also when asked again", async () => {
      const a = await aProduct(bed.store, { stock: 10, priceCents: 1999 });
      const b = await aProduct(bed.store, { stock: 10, priceCents: 5 });
      const orderId = uuidv7();
      const items = [
        { productId: b.id, quantity: 1 },
        { productId: a.id, quantity: 2 },
      ];
      const priced = (answer: Awaited<ReturnType<typeof reserve>>) =>
        answer.products.map((p) => [p.productId, p.name, p.unitPriceCents]);
      const expected = [
        [a.id, a.name, 1999n],
        [b.id, b.name, 5n],
      ].sort((x, y) => ((x[0] as string) < (y[0] as string) ? -1 : 1));
      expect(priced(await reserve(orderId, items))).toEqual(expected);
      await bed.store.products.update(a.id, { priceCents: 2500 });
      expect(priced(await reserve(orderId, items))).toEqual(expected);
      expect(await stockOf(a.id)).toBe(8);
    });

    it("takes nothing when one item is short, and names it with a PreconditionFailure", async () => {
      const plenty = await aProduct(bed.store, { stock: 10 });
      const scarce = await aProduct(bed.store, { stock: 3 });
      const error = await rejection(
        reserve(uuidv7(), [
          { productId: plenty.id, quantity: 4 },
          { productId: scarce.id, quantity: 5 },
        ]),
      );
      expect(error.code).toBe(Code.FailedPrecondition);
      expect(error.rawMessage).toContain(scarce.id);
      expect(error.rawMessage).toContain("only 3 left, 5 requested");
      const [failure] = error.findDetails(PreconditionFailureSchema);
      expect(failure?.violations.map((v) => ({ ...v }))).toEqual([
        expect.objectContaining({
          type: "STOCK",
          subject: scarce.id,
          description: "only 3 left, 5 requested",
        }),
      ]);
      expect(await stockOf(plenty.id)).toBe(10);
      expect(await stockOf(scarce.id)).toBe(3);
    });

    it("names every short product, and says when one is sold out", async () => {
      const gone = await aProduct(bed.store, { stock: 0 });
      const low = await aProduct(bed.store, { stock: 1 });
      const error = await rejection(
        reserve(uuidv7(), [
          { productId: gone.id, quantity: 1 },
          { productId: low.id, quantity: 2 },
        ]),
      );
      const [failure] = error.findDetails(PreconditionFailureSchema);
      expect(
        Object.fromEntries(failure?.violations.map((v) => [v.subject, v.description]) ?? []),
      ).toEqual({ [gone.id]: "out of stock, 1 requested", [low.id]: "only 1 left, 2 requested" });
    });

    it("answers NOT_FOUND naming an unknown product, taking nothing", async () => {
      const known = await aProduct(bed.store, { stock: 4 });
      const unknown = uuidv7();
      const orderId = uuidv7();
      const error = await rejection(
        reserve(orderId, [
          { productId: known.id, quantity: 1 },
          { productId: unknown, quantity: 1 },
        ]),
      );
      expect(error.code).toBe(Code.NotFound);
      expect(error.rawMessage).toContain(unknown);
      expect(await stockOf(known.id)).toBe(4);
      // A failed reservation leaves no record: the same order id may try again.
      const { reservation } = await reserve(orderId, [{ productId: known.id, quantity: 1 }]);
      expect(reservation?.state).toBe(ReservationState.PENDING);
      expect(await stockOf(known.id)).toBe(3);
    });

    it("returns the first reservation for a repeated order id, taking stock once", async () => {
      const product = await aProduct(bed.store, { stock: 10 });
      const orderId = uuidv7();
      const first = await reserve(orderId, [{ productId: product.id, quantity: 4 }]);
      const again = await reserve(orderId, [{ productId: product.id, quantity: 4 }]);
      const different = await reserve(orderId, [{ productId: product.id, quantity: 1 }]);
      expect(again).toEqual(first);
      expect(different).toEqual(first);
      expect(await stockOf(product.id)).toBe(6);
      await bed.client.releaseStock({ orderId }, bed.as.service);
      const afterRelease = await reserve(orderId, [{ productId: product.id, quantity: 4 }]);
      expect(afterRelease.reservation?.state).toBe(ReservationState.RELEASED);
      expect(await stockOf(product.id)).toBe(10);
    });

    it("is only for services: no token, a customer and an admin are refused", async () => {
      const product = await aProduct(bed.store);
      const request = { orderId: uuidv7(), items: [{ productId: product.id, quantity: 1 }] };
      expect((await rejection(bed.client.reserveStock(request))).code).toBe(Code.Unauthenticated);
      expect((await rejection(bed.client.reserveStock(request, bed.as.customer))).code).toBe(
        Code.PermissionDenied,
      );
      expect((await rejection(bed.client.reserveStock(request, bed.as.admin))).code).toBe(
        Code.PermissionDenied,
      );
      for (const call of [bed.client.commitReservation, bed.client.releaseStock]) {
        expect((await rejection(call({ orderId: request.orderId }, bed.as.admin))).code).toBe(
          Code.PermissionDenied,
        );
        expect((await rejection(call({ orderId: request.orderId }))).code).toBe(
          Code.Unauthenticated,
        );
      }
      expect(await stockOf(product.id)).toBe(10);
    });

    const id = uuidv7();
    it.each([
      [
        "a malformed order id",
        { orderId: "order-1", items: [{ productId: id, quantity: 1 }] },
        "order_id",
        /UUID/,
      ],
      ["no items", { orderId: id, items: [] }, "items", /1 to 100 items/],
      [
        "101 items",
        {
          orderId: id,
          items: Array.from({ length: 101 }, () => ({ productId: uuidv7(), quantity: 1 })),
        },
        "items",
        /1 to 100 items/,
      ],
      [
        "a zero quantity",
        { orderId: id, items: [{ productId: id, quantity: 0 }] },
        "items[0].quantity",
        /1 to 1000/,
      ],
      [
        "a quantity of 1001",
        { orderId: id, items: [{ productId: id, quantity: 1001 }] },
        "items[0].quantity",
        /1 to 1000/,
      ],
      [
        "a malformed product id",
        { orderId: id, items: [{ productId: "x", quantity: 1 }] },
        "items[0].product_id",
        /UUID/,
      ],
    ])("rejects %s", async (_label, request, field, message) => {
      const error = await rejection(bed.client.reserveStock(request, bed.as.service));
      expect(error.code).toBe(Code.InvalidArgument);
      const [details] = error.findDetails(BadRequestSchema);
      expect(details?.fieldViolations.find((v) => v.field === field)?.description).toMatch(message);
    });
  });

  describe("CommitReservation and ReleaseStock", () => {
    it("release puts the stock back once, however often it is called", async () => {
      const product = await aProduct(bed.store, { stock: 7 });
      const orderId = uuidv7();
      await reserve(orderId, [{ productId: product.id, quantity: 5 }]);
      expect(await stockOf(product.id)).toBe(2);
      const releases = await Promise.all(
        Array.from({ length: 5 }, () => bed.client.releaseStock({ orderId }, bed.as.service)),
      );
      for (const { reservation } of releases) {
        expect(reservation?.state).toBe(ReservationState.RELEASED);
      }
      expect(await stockOf(product.id)).toBe(7);
      await bed.client.releaseStock({ orderId }, bed.as.service);
      expect(await stockOf(product.id)).toBe(7);
    });

    it("commit keeps the stock sold; commit is idempotent; release after it is refused", async () => {
      const product = await aProduct(bed.store, { stock: 7 });
      const orderId = uuidv7();
      await reserve(orderId, [{ productId: product.id, quantity: 2 }]);
      const first = await bed.client.commitReservation({ orderId }, bed.as.service);
      const second = await bed.client.commitReservation({ orderId }, bed.as.service);
      expect(first.reservation?.state).toBe(ReservationState.COMMITTED);
      expect(second).toEqual(first);
      const error = await rejection(bed.client.releaseStock({ orderId }, bed.as.service));
      expect(error.code).toBe(Code.FailedPrecondition);
      expect(error.rawMessage).toContain("already committed");
      expect(await stockOf(product.id)).toBe(5);
    });

    it("a released reservation cannot be committed", async () => {
      const product = await aProduct(bed.store, { stock: 3 });
      const orderId = uuidv7();
      await reserve(orderId, [{ productId: product.id, quantity: 3 }]);
      await bed.client.releaseStock({ orderId }, bed.as.service);
      const error = await rejection(bed.client.commitReservation({ orderId }, bed.as.service));
      expect(error.code).toBe(Code.FailedPrecondition);
      expect(error.rawMessage).toContain("already released");
      expect(await stockOf(product.id)).toBe(3);
    });

    it("an unknown order id is NOT_FOUND; a malformed one INVALID_ARGUMENT", async () => {
      const orderId = uuidv7();
      for (const call of [bed.client.commitReservation, bed.client.releaseStock]) {
        const error = await rejection(call({ orderId }, bed.as.service));
        expect(error.code).toBe(Code.NotFound);
        expect(error.rawMessage).toContain(orderId);
        expect((await rejection(call({ orderId: "" }, bed.as.service))).code).toBe(
          Code.InvalidArgument,
        );
      }
    });
  });

  describe("ReturnStock", () => {
    const commit = (orderId: string) => bed.client.commitReservation({ orderId }, bed.as.service);
    const giveBack = (orderId: string) => bed.client.returnStock({ orderId }, bed.as.service);

    it("puts back exactly a committed reservation's items, once, under concurrent duplicates", async () => {
      const a = await aProduct(bed.store, { stock: 10 });
      const b = await aProduct(bed.store, { stock: 4 });
      const orderId = uuidv7();
      await reserve(orderId, [
        { productId: a.id, quantity: 3 },
        { productId: b.id, quantity: 4 },
      ]);
      await commit(orderId);
      // Someone else's sale in between: the return adds back, it does not restore a snapshot.
      const other = uuidv7();
      await reserve(other, [{ productId: a.id, quantity: 2 }]);
      await commit(other);
      expect([await stockOf(a.id), await stockOf(b.id)]).toEqual([5, 0]);
      const answers = await Promise.all(Array.from({ length: 8 }, () => giveBack(orderId)));
      for (const { reservation } of answers) {
        expect(reservation?.state).toBe(ReservationState.RETURNED);
        expect(reservation?.items.map((i) => [i.productId, i.quantity])).toEqual(
          [
            [a.id, 3],
            [b.id, 4],
          ].sort(),
        );
      }
      expect([await stockOf(a.id), await stockOf(b.id)]).toEqual([8, 4]);
      const again = await giveBack(orderId);
      expect(again).toEqual(answers[0]);
      expect([await stockOf(a.id), await stockOf(b.id)]).toEqual([8, 4]);
    });

    it("a committed-then-returned reservation: commit answers it, release is refused", async () => {
      const product = await aProduct(bed.store, { stock: 5 });
      const orderId = uuidv7();
      await reserve(orderId, [{ productId: product.id, quantity: 2 }]);
      await commit(orderId);
      await giveBack(orderId);
      expect((await commit(orderId)).reservation?.state).toBe(ReservationState.RETURNED);
      const error = await rejection(bed.client.releaseStock({ orderId }, bed.as.service));
      expect(error.code).toBe(Code.FailedPrecondition);
      expect(error.rawMessage).toContain("already returned");
      expect(await stockOf(product.id)).toBe(5);
    });

    it("refuses a pending or released reservation and an unknown one, changing nothing", async () => {
      const product = await aProduct(bed.store, { stock: 5 });
      const pending = uuidv7();
      await reserve(pending, [{ productId: product.id, quantity: 1 }]);
      const notCommitted = await rejection(giveBack(pending));
      expect(notCommitted.code).toBe(Code.FailedPrecondition);
      expect(notCommitted.rawMessage).toContain("still pending");
      const released = uuidv7();
      await reserve(released, [{ productId: product.id, quantity: 2 }]);
      await bed.client.releaseStock({ orderId: released }, bed.as.service);
      const afterRelease = await rejection(giveBack(released));
      expect(afterRelease.code).toBe(Code.FailedPrecondition);
      expect(afterRelease.rawMessage).toContain("already released");
      expect((await rejection(giveBack(uuidv7()))).code).toBe(Code.NotFound);
      expect((await rejection(giveBack("nope"))).code).toBe(Code.InvalidArgument);
      expect(await stockOf(product.id)).toBe(4);
      const state = await bed.client.commitReservation({ orderId: pending }, bed.as.service);
      expect(state.reservation?.state).toBe(ReservationState.COMMITTED);
    });

    it("is for the order service only", async () => {
      const orderId = uuidv7();
      expect((await rejection(bed.client.returnStock({ orderId }))).code).toBe(
        Code.Unauthenticated,
      );
      const catalogItself = bearer(await bed.authority.issueServiceToken("catalog"));
      for (const who of [bed.as.customer, bed.as.admin, catalogItself]) {
        expect((await rejection(bed.client.returnStock({ orderId }, who))).code).toBe(
          Code.PermissionDenied,
        );
      }
    });
  });

  describe("BatchReserveStock and BatchCommitReservations", () => {
    it("answers each order as its single call would, in request order", async () => {
      const plenty = await aProduct(bed.store, { stock: 10, priceCents: 250 });
      const scarce = await aProduct(bed.store, { stock: 1 });
      const ghost = uuidv7();
      const [ok, short, unknown, again] = [uuidv7(), uuidv7(), uuidv7(), uuidv7()];
      await reserve(again, [{ productId: plenty.id, quantity: 1 }]);
      const { results } = await bed.client.batchReserveStock(
        {
          requests: [
            { orderId: ok, items: [{ productId: plenty.id, quantity: 2 }] },
            {
              orderId: short,
              items: [
                { productId: plenty.id, quantity: 1 },
                { productId: scarce.id, quantity: 2 },
              ],
            },
            { orderId: unknown, items: [{ productId: ghost, quantity: 1 }] },
            // A retry of an order already reserved: its reservation, stock taken once.
            { orderId: again, items: [{ productId: plenty.id, quantity: 1 }] },
          ],
        },
        bed.as.service,
      );
      const [first, second, third, fourth] = results.map((r) => r.result);
      expect(first?.case).toBe("reserved");
      if (first?.case === "reserved") {
        expect(first.value.reservation?.orderId).toBe(ok);
        expect(first.value.products.map((p) => [p.productId, p.unitPriceCents])).toEqual([
          [plenty.id, 250n],
        ]);
      }
      expect(second?.case).toBe("error");
      if (second?.case === "error") {
        const error = fromStatus(second.value);
        expect(error.code).toBe(Code.FailedPrecondition);
        const [detail] = error.findDetails(PreconditionFailureSchema);
        expect(detail?.violations[0]).toMatchObject({ type: "STOCK", subject: scarce.id });
      }
      expect(third?.case).toBe("error");
      if (third?.case === "error") {
        expect(third.value.code).toBe(Code.NotFound);
        expect(third.value.message).toContain(ghost);
      }
      expect(fourth?.case === "reserved" && fourth.value.reservation?.orderId).toBe(again);
      // 10 − 2 (ok) − 1 (again, once): the short order took nothing.
      expect(await stockOf(plenty.id)).toBe(7);
      expect(await stockOf(scarce.id)).toBe(1);

      await bed.client.releaseStock({ orderId: again }, bed.as.service);
      const committed = await bed.client.batchCommitReservations(
        { orderIds: [ok, again, short] },
        bed.as.service,
      );
      const [c1, c2, c3] = committed.results.map((r) => r.result);
      expect(c1?.case === "committed" && c1.value.reservation?.state).toBe(
        ReservationState.COMMITTED,
      );
      expect(c2?.case === "error" && c2.value).toMatchObject({
        code: Code.FailedPrecondition,
        message: expect.stringContaining("already released"),
      });
      expect(c3?.case === "error" && c3.value.code).toBe(Code.NotFound);
      expect(await stockOf(plenty.id)).toBe(8);
    });

    it("refuses a batch that names an order twice, is empty or too long, or has a bad entry", async () => {
      const product = await aProduct(bed.store, { stock: 10 });
      const orderId = uuidv7();
      const entry = { orderId, items: [{ productId: product.id, quantity: 1 }] };
      const cases: [unknown[], string, RegExp][] = [
        [[entry, { ...entry, orderId: orderId.toUpperCase() }], "requests", /each order once/],
        [[], "requests", /1 to 100 reservations/],
        [
          Array.from({ length: 101 }, () => ({ ...entry, orderId: uuidv7() })),
          "requests",
          /1 to 100 reservations/,
        ],
        [[entry, { orderId: uuidv7(), items: [] }], "requests[1].items", /1 to 100 items/],
      ];
      for (const [requests, field, message] of cases) {
        const error = await rejection(
          bed.client.batchReserveStock(
            { requests: requests as { orderId: string }[] },
            bed.as.service,
          ),
        );
        expect(error.code).toBe(Code.InvalidArgument);
        const [details] = error.findDetails(BadRequestSchema);
        expect(details?.fieldViolations.find((v) => v.field === field)?.description).toMatch(
          message,
        );
      }
      const twice = await rejection(
        bed.client.batchCommitReservations({ orderIds: [orderId, orderId] }, bed.as.service),
      );
      expect(twice.code).toBe(Code.InvalidArgument);
      expect(await stockOf(product.id)).toBe(10);
    });

    it("is only for the order service, like the single calls", async () => {
      const product = await aProduct(bed.store);
      const requests = [{ orderId: uuidv7(), items: [{ productId: product.id, quantity: 1 }] }];
      const catalogItself = bearer(await bed.authority.issueServiceToken("catalog"));
      for (const call of [undefined, bed.as.admin, catalogItself]) {
        const error = await rejection(bed.client.batchReserveStock({ requests }, call));
        expect([Code.Unauthenticated, Code.PermissionDenied]).toContain(error.code);
        const commit = await rejection(
          bed.client.batchCommitReservations({ orderIds: [requests[0]?.orderId ?? ""] }, call),
        );
        expect([Code.Unauthenticated, Code.PermissionDenied]).toContain(commit.code);
      }
      expect(await stockOf(product.id)).toBe(10);
    });
  });

  describe("under parallel calls", () => {
    it("40 parallel reservations of 1 against stock 10: exactly 10 succeed", async () => {
      const product = await aProduct(bed.store, { stock: 10 });
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, () =>
          reserve(uuidv7(), [{ productId: product.id, quantity: 1 }]),
        ),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(won).toHaveLength(10);
      for (const loss of lost) {
        expect((await rejection(Promise.reject(loss.reason))).code).toBe(Code.FailedPrecondition);
      }
      expect(await stockOf(product.id)).toBe(0);
    });

    it("multi-item reservations in opposite orders finish without deadlock, stock exact", async () => {
      const products = await Promise.all(
        Array.from({ length: 4 }, () => aProduct(bed.store, { stock: 1000 })),
      );
      const forward = products.map((p) => ({ productId: p.id, quantity: 1 }));
      const backward = [...forward].reverse();
      const results = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) => reserve(uuidv7(), i % 2 === 0 ? forward : backward)),
      );
      expect(results.filter((r) => r.status === "rejected")).toEqual([]);
      for (const product of products) expect(await stockOf(product.id)).toBe(970);
    });

    it("parallel batches and single calls over the same products: no deadlock, no oversell", async () => {
      const products = await Promise.all(
        Array.from({ length: 4 }, () => aProduct(bed.store, { stock: 12 })),
      );
      const ids = products.map((p) => p.id);
      // Each order wants 1 of two products, named in either order; 80 orders for 48 units.
      const orderOf = (i: number) => ({
        orderId: uuidv7(),
        items: [
          { productId: ids[i % 4] ?? "", quantity: 1 },
          { productId: ids[(i + 1 + (i % 3)) % 4] ?? "", quantity: 1 },
        ].sort(() => (i % 2 === 0 ? 1 : -1)),
      });
      const batches = Array.from({ length: 8 }, (_, b) =>
        Array.from({ length: 8 }, (_, k) => orderOf(b * 8 + k)),
      );
      const singles = Array.from({ length: 16 }, (_, k) => orderOf(64 + k));
      const [batchAnswers, singleAnswers] = await Promise.all([
        Promise.all(
          batches.map((requests) => bed.client.batchReserveStock({ requests }, bed.as.service)),
        ),
        Promise.allSettled(singles.map((o) => reserve(o.orderId, o.items))),
      ]);
      const results = batchAnswers.flatMap((a) => a.results.map((r) => r.result));
      const reservedInBatches = results.filter((r) => r.case === "reserved").length;
      const refusedInBatches = results.filter(
        (r) => r.case === "error" && r.value.code === Code.FailedPrecondition,
      ).length;
      expect(reservedInBatches + refusedInBatches).toBe(64);
      const reservedAlone = singleAnswers.filter((r) => r.status === "fulfilled").length;
      for (const r of singleAnswers) {
        if (r.status === "rejected") {
          expect((await rejection(Promise.reject(r.reason))).code).toBe(Code.FailedPrecondition);
        }
      }
      // Every unit is accounted for: stock + 2 units per reservation = 48, nothing negative.
      const left = await Promise.all(ids.map((id) => stockOf(id)));
      for (const stock of left) expect(stock).toBeGreaterThanOrEqual(0);
      const total = left.reduce<number>((sum, stock) => sum + (stock ?? 0), 0);
      expect(total + 2 * (reservedInBatches + reservedAlone)).toBe(48);
      // 80 orders for 48 units: demand exceeds stock, so some product ran out.
      expect(left).toContain(0);
    });

    it("the same order id reserved in parallel takes stock once", async () => {
      const product = await aProduct(bed.store, { stock: 50 });
      const orderId = uuidv7();
      const results = await Promise.all(
        Array.from({ length: 10 }, () =>
          reserve(orderId, [{ productId: product.id, quantity: 5 }]),
        ),
      );
      for (const result of results) expect(result).toEqual(results[0]);
      expect(await stockOf(product.id)).toBe(45);
    });

    it("parallel reserves and releases leave the stock exact", async () => {
      const product = await aProduct(bed.store, { stock: 20 });
      const orders = Array.from({ length: 20 }, () => uuidv7());
      await Promise.all(orders.map((o) => reserve(o, [{ productId: product.id, quantity: 1 }])));
      expect(await stockOf(product.id)).toBe(0);
      await Promise.all(
        orders.flatMap((orderId, i) => [
          bed.client.releaseStock({ orderId }, bed.as.service),
          i % 2 === 0 ? bed.client.releaseStock({ orderId }, bed.as.service) : Promise.resolve(),
        ]),
      );
      expect(await stockOf(product.id)).toBe(20);
    });
    it("parallel commits share a statement yet each gets its own answer", async () => {
      const product = await aProduct(bed.store, { stock: 30 });
      const orders = Array.from({ length: 12 }, () => uuidv7());
      await Promise.all(orders.map((o) => reserve(o, [{ productId: product.id, quantity: 2 }])));
      const [released, ...committing] = orders as [string, ...string[]];
      await bed.client.releaseStock({ orderId: released }, bed.as.service);
      const unknown = uuidv7();
      // Every order committed twice, a released one and an unknown one, all in one turn.
      const answers = await Promise.allSettled(
        [...committing, ...committing, released, unknown].map((orderId) =>
          bed.client.commitReservation({ orderId }, bed.as.service),
        ),
      );
      committing.forEach((orderId, i) => {
        for (const answer of [answers[i], answers[i + committing.length]]) {
          expect(answer?.status).toBe("fulfilled");
          const { reservation } = (answer as PromiseFulfilledResult<{ reservation?: Reservation }>)
            .value;
          expect(reservation?.orderId).toBe(orderId);
          expect(reservation?.state).toBe(ReservationState.COMMITTED);
          expect(reservation?.items).toEqual([
            expect.objectContaining({ productId: product.id, quantity: 2 }),
          ]);
        }
      });
      const [releasedAnswer, unknownAnswer] = answers.slice(-2);
      expect(releasedAnswer?.status).toBe("rejected");
      expect(((releasedAnswer as PromiseRejectedResult).reason as { code: Code }).code).toBe(
        Code.FailedPrecondition,
      );
      expect(((unknownAnswer as PromiseRejectedResult).reason as { code: Code }).code).toBe(
        Code.NotFound,
      );
      expect(await stockOf(product.id)).toBe(30 - 2 * committing.length);
    });
  });

  describe("the expiry sweeper", () => {
    // These reservations belong to no order the order service knows: released once expired.
    const sweep = async (now: Date) =>
      (
        await sweepExpiredReservations(
          bed.store.reservations,
          async () => "unknown",
          { ttlSeconds },
          now,
        )
      ).released;

    it("releases pending reservations past their expiry, and only those", async () => {
      const product = await aProduct(bed.store, { stock: 10 });
      const expiring = uuidv7();
      const committed = uuidv7();
      await reserve(expiring, [{ productId: product.id, quantity: 3 }]);
      await reserve(committed, [{ productId: product.id, quantity: 2 }]);
      await bed.client.commitReservation({ orderId: committed }, bed.as.service);
      expect(await stockOf(product.id)).toBe(5);

      // Not yet expired: nothing moves.
      expect(await sweep(new Date())).not.toContain(expiring);
      expect(await stockOf(product.id)).toBe(5);

      const later = new Date(Date.now() + (ttlSeconds + 5) * 1000);
      const released = await sweep(later);
      expect(released).toContain(expiring);
      expect(released).not.toContain(committed);
      expect(await stockOf(product.id)).toBe(8);
      const { reservation } = await reserve(expiring, [{ productId: product.id, quantity: 3 }]);
      expect(reservation?.state).toBe(ReservationState.RELEASED);
      expect(await sweep(later)).not.toContain(expiring);
      expect(await stockOf(product.id)).toBe(8);
      const error = await rejection(
        bed.client.commitReservation({ orderId: expiring }, bed.as.service),
      );
      expect(error.code).toBe(Code.FailedPrecondition);
    });
  });
});
