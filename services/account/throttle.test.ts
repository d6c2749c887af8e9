// The guessing limits on real PostgreSQL: per (email, client) with growing delays, the same
// totals whichever replica counts an attempt, and tables that stay bounded.
import { count } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseHandle } from "../../platform/data/database.js";
import { openTestDatabase } from "../../platform/testing.js";
import { migrationsFolder } from "./config.js";
import * as schema from "./schema.js";
import { FailureThrottle, failureDelayMs, RateLimit } from "./throttle.js";

let database: DatabaseHandle<typeof schema>;
beforeAll(async () => {
  database = await openTestDatabase({ schema, migrationsFolder });
});
afterAll(() => database?.close());

const rows = async (table: typeof schema.loginFailures | typeof schema.signupWindows) =>
  (await database.db.select({ n: count() }).from(table))[0]?.n ?? -1;
let unique = 0;
const keyOf = (what: string) => `${what}-${unique++}@example.com 203.0.113.9`;

describe("failureDelayMs", () => {
  it("is 0 before the allowed failures, then doubles from 1 s up to the cap", () => {
    const waits = [1, 2, 3, 4, 5, 6, 7, 40].map((n) => failureDelayMs(n, 3, 10_000));
    expect(waits).toEqual([0, 0, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  });
});

describe("FailureThrottle", () => {
  it("blocks after the allowed failures, each further one twice as long", async () => {
    let now = 1_000_000;
    const throttle = new FailureThrottle(database.db, 3, 900_000, { now: () => now });
    const key = keyOf("admin");
    for (let i = 0; i < 2; i++) await throttle.recordFailure(key);
    expect(await throttle.check(key)).toEqual({ waitMs: 0, failures: 2 });
    await throttle.recordFailure(key);
    expect((await throttle.check(key)).waitMs).toBe(1000);
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      now += (await throttle.check(key)).waitMs;
      await throttle.recordFailure(key);
      waits.push((await throttle.check(key)).waitMs);
    }
    expect(waits).toEqual([2000, 4000, 8000, 16000]);
    await throttle.recordSuccess(key);
    expect(await throttle.check(key)).toEqual({ waitMs: 0, failures: 0 });
  });

  it("caps the delay and forgets a key that stayed quiet", async () => {
    let now = 1_000_000;
    const throttle = new FailureThrottle(database.db, 1, 10_000, { now: () => now });
    const key = keyOf("quiet");
    for (let i = 0; i < 40; i++) await throttle.recordFailure(key);
    expect((await throttle.check(key)).waitMs).toBe(10_000);
    now += 20_000;
    expect(await throttle.check(key)).toEqual({ waitMs: 0, failures: 0 });
    await throttle.recordFailure(key);
    expect((await throttle.check(key)).waitMs).toBe(1000);
  });

  it("does not let one client lock out the owner at another address", async () => {
    const throttle = new FailureThrottle(database.db, 3, 900_000);
    for (let i = 0; i < 10; i++) await throttle.recordFailure("owner@example.com 198.51.100.7");
    expect((await throttle.check("owner@example.com 198.51.100.7")).waitMs).toBeGreaterThan(0);
    expect((await throttle.check("owner@example.com 203.0.113.9")).waitMs).toBe(0);
  });

  it("counts every replica's failures: alternating or at once, the same totals as one", async () => {
    // Two throttles on one database are two replicas.
    const [a, b] = [0, 1].map(() => new FailureThrottle(database.db, 5, 900_000));
    const alternating = keyOf("alternating");
    const answers: number[] = [];
    for (let i = 0; i < 10; i++) {
      const replica = i % 2 === 0 ? a : b;
      const { waitMs } = await (replica as FailureThrottle).check(alternating);
      answers.push(waitMs);
      if (waitMs === 0) await (replica as FailureThrottle).recordFailure(alternating);
    }
    // As one process alone: five checked, then refused.
    expect(answers.map((ms) => (ms > 0 ? 429 : 401))).toEqual([
      401, 401, 401, 401, 401, 429, 429, 429, 429, 429,
    ]);
    const atOnce = keyOf("at-once");
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 === 0 ? (a as FailureThrottle) : (b as FailureThrottle)).recordFailure(atOnce),
      ),
    );
    expect((await (a as FailureThrottle).check(atOnce)).failures).toBe(40);
  });

  it("prunes what expired and never keeps more than maxEntries after a flood", async () => {
    await database.db.delete(schema.loginFailures);
    let now = 5_000_000;
    const throttle = new FailureThrottle(database.db, 5, 60_000, {
      maxEntries: 500,
      now: () => now,
    });
    const old = keyOf("expired");
    await throttle.recordFailure(old);
    now += 61_000;
    // A flood of distinct emails, each a new row, faster than the clock moves.
    const flood = Array.from({ length: 2000 }, (_, i) => `flood-${i}@example.com 10.0.0.1`);
    for (let i = 0; i < flood.length; i += 100) {
      now += 1;
      await Promise.all(flood.slice(i, i + 100).map((key) => throttle.recordFailure(key)));
    }
    expect(await rows(schema.loginFailures)).toBe(2001);
    expect(await throttle.prune()).toBeGreaterThanOrEqual(1501);
    expect(await rows(schema.loginFailures)).toBeLessThanOrEqual(500);
    expect(await rows(schema.loginFailures)).toBeGreaterThanOrEqual(400);
    // The newest are remembered, the oldest and the expired forgotten.
    expect((await throttle.check(flood[1999] as string)).failures).toBe(1);
    expect((await throttle.check(flood[0] as string)).failures).toBe(0);
    expect((await throttle.check(old)).failures).toBe(0);
  });
});

describe("RateLimit", () => {
  it("allows max events per window per key", async () => {
    let now = 1_000_000;
    const limit = new RateLimit(database.db, 2, 60_000, { now: () => now });
    const [a, b] = [keyOf("a"), keyOf("b")];
    expect([await limit.take(a), await limit.take(a), await limit.take(b)]).toEqual([0, 0, 0]);
    expect(await limit.take(a)).toBe(60_000);
    now += 30_000;
    expect(await limit.take(a)).toBe(30_000);
    now += 30_000;
    expect(await limit.take(a)).toBe(0);
  });

  it("allows exactly max across replicas taking at once", async () => {
    const [a, b] = [0, 1].map(() => new RateLimit(database.db, 10, 60_000));
    const client = keyOf("client");
    const waits = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        (i % 2 === 0 ? (a as RateLimit) : (b as RateLimit)).take(client),
      ),
    );
    expect(waits.filter((ms) => ms === 0)).toHaveLength(10);
    expect(waits.filter((ms) => ms > 0)).toHaveLength(20);
  });

  it("prunes ended windows and keeps at most maxEntries", async () => {
    await database.db.delete(schema.signupWindows);
    let now = 1_000_000;
    const limit = new RateLimit(database.db, 5, 60_000, { maxEntries: 100, now: () => now });
    await limit.take(keyOf("ended"));
    now += 60_000;
    for (let i = 0; i < 300; i += 50) {
      now += 1;
      await Promise.all(Array.from({ length: 50 }, (_, j) => limit.take(`10.1.${i}.${j}`)));
    }
    expect(await rows(schema.signupWindows)).toBe(301);
    await limit.prune();
    expect(await rows(schema.signupWindows)).toBeLessThanOrEqual(100);
    expect(await rows(schema.signupWindows)).toBeGreaterThanOrEqual(50);
  });
});
