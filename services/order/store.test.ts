// The order store's one-statement confirm and its shared settle marks, on each real database.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uuidv7 } from "../../platform/data/ids.js";
import { type OrderTestbed, openOrderTestbed } from "./testing.js";

describe("OrderStore", () => {
  let bed: OrderTestbed;
  beforeAll(async () => {
    bed = await openOrderTestbed();
  });
  afterAll(() => bed?.close());

  const accountId = uuidv7();
  const begin = async () => {
    const begun = await bed.store.attempts.begin({
      id: uuidv7(),
      accountId,
      idempotencyKey: undefined,
    });
    if (!begun.created) throw new Error("not created");
    return begun.attempt;
  };
  const item = (name: string, unitPriceCents: bigint, quantity: number) => ({
    productId: uuidv7(),
    name,
    description: `it's "${name}", {quoted}, \\ and ünïcode`,
    unitPriceCents,
    quantity,
  });

  it("confirms a pending attempt with its items and total, exactly as given", async () => {
    const attempt = await begin();
    const { id } = attempt;
    const items = [item("a", 9_007_199_254_740_993n, 1), item("b, c", 0n, 1000)];
    const order = await bed.store.attempts.confirm(attempt, {
      items,
      totalCents: 9_007_199_254_740_993n,
    });
    expect(order).toMatchObject({ id, accountId, totalCents: 9_007_199_254_740_993n, items });
    expect(await bed.store.orders.find(id)).toEqual(order);
  });

  it("confirms nothing, and writes no item, once the attempt is no longer pending", async () => {
    const attempt = await begin();
    const { id } = attempt;
    await bed.store.attempts.fail(id, { reason: "abandoned" }, false);
    const order = await bed.store.attempts.confirm(attempt, {
      items: [item("x", 5n, 2)],
      totalCents: 10n,
    });
    expect(order).toBeUndefined();
    expect(await bed.store.orders.find(id)).toBeUndefined();
    expect((await bed.store.attempts.findAttempt(id))?.status).toBe("failed");
  });

  it("an invalid item rolls the whole confirm back: the attempt stays pending", async () => {
    const attempt = await begin();
    const { id } = attempt;
    await expect(
      bed.store.attempts.confirm(attempt, { items: [item("y", -1n, 1)], totalCents: -1n }),
    ).rejects.toThrow();
    expect((await bed.store.attempts.findAttempt(id))?.status).toBe("pending");
  });

  it("lists each account's confirmed orders newest first, items in order", async () => {
    const place = async (account: string, names: string[]) => {
      const begun = await bed.store.attempts.begin({
        id: uuidv7(),
        accountId: account,
        idempotencyKey: undefined,
      });
      if (!begun.created) throw new Error("not created");
      const items = names.map((name, i) =>
        item(name, BigInt(i + 1) * 9_007_199_254_740_993n, i + 1),
      );
      return bed.store.attempts.confirm(begun.attempt, { items, totalCents: 1n });
    };
    const [ann, bob, nobody] = [uuidv7(), uuidv7(), uuidv7()];
    const first = await place(ann, ["a1", "a2", "a3"]);
    const second = await place(ann, ["b1"]);
    const bobs = await place(bob, ["c1", "c2"]);
    // Neither a pending nor a failed attempt is listed.
    await bed.store.attempts.begin({ id: uuidv7(), accountId: ann, idempotencyKey: undefined });
    const failed = await bed.store.attempts.begin({
      id: uuidv7(),
      accountId: bob,
      idempotencyKey: undefined,
    });
    if (failed.created)
      await bed.store.attempts.fail(failed.attempt.id, { reason: "abandoned" }, true);
    const listed = await bed.store.orders.listForAccounts([ann, bob, nobody]);
    expect([...listed.keys()]).toEqual([ann, bob, nobody]);
    expect(listed.get(ann)).toEqual([second, first]);
    expect(listed.get(bob)).toEqual([bobs]);
    expect(listed.get(nobody)).toEqual([]);
    expect(await bed.store.orders.listForAccounts([])).toEqual(new Map());
  });

  it("attempts begun together are answered as a read gives them back; a shared key begins once", async () => {
    const keys = [`it's "quoted", \\ ünïcode`, "null", undefined, "same", "same"];
    const begun = await Promise.all(
      keys.map((idempotencyKey) =>
        bed.store.attempts.begin({ id: uuidv7(), accountId, idempotencyKey }),
      ),
    );
    const created = begun.flatMap((b) => (b.created ? [b.attempt] : []));
    expect(created.map((a) => a.idempotencyKey)).toEqual(keys.slice(0, 4).map((k) => k ?? null));
    for (const attempt of created) {
      expect(attempt).toMatchObject({ status: "pending", settled: false, totalCents: null });
      expect(attempt.createTime).toBeInstanceOf(Date);
      expect(await bed.store.attempts.findAttempt(attempt.id)).toEqual(attempt);
    }
    // The second "same" lost to the first, in the same statement, and learns which attempt won.
    expect(begun[4]).toEqual({ created: false, existing: created[3] });
  });

  it("settle marks asked for together each land, except on an attempt still pending", async () => {
    const attempts = await Promise.all(Array.from({ length: 5 }, begin));
    const [pending, ...decided] = attempts.map((a) => a.id);
    if (!pending) throw new Error("no attempts");
    for (const id of decided) {
      expect(await bed.store.attempts.fail(id, { reason: "account-not-found" }, false)).toBe(true);
    }
    await Promise.all([pending, ...decided].map((id) => bed.store.attempts.markSettled(id)));
    for (const id of decided)
      expect((await bed.store.attempts.findAttempt(id))?.settled).toBe(true);
    // Pending attempts are never settled: recovery finds them by that (the orders_unsettled
    // index), and gives up on this one once it is old enough.
    expect((await bed.store.attempts.findAttempt(pending))?.settled).toBe(false);
    const abandoned = await bed.store.attempts.failAbandoned(0, 1000);
    expect(abandoned.find((a) => a.id === pending)).toMatchObject({
      status: "failed",
      settled: false,
    });
  });
});
