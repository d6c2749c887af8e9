// The guessing limits: per (email, client) with growing delays, bounded, O(1) per failure.
import { describe, expect, it } from "vitest";
import { FailureThrottle, RateLimit } from "./throttle.js";

describe("FailureThrottle", () => {
  it("blocks after the allowed failures, each further one twice as long", () => {
    let now = 0;
    const throttle = new FailureThrottle(3, 900_000, { now: () => now });
    const key = "admin@example.com 203.0.113.9";
    for (let i = 0; i < 2; i++) throttle.recordFailure(key);
    expect(throttle.retryAfter(key)).toBe(0);
    throttle.recordFailure(key);
    expect(throttle.retryAfter(key)).toBe(1000);
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      now += throttle.retryAfter(key);
      throttle.recordFailure(key);
      waits.push(throttle.retryAfter(key));
    }
    expect(waits).toEqual([2000, 4000, 8000, 16000]);
    throttle.recordSuccess(key);
    expect(throttle.retryAfter(key)).toBe(0);
  });

  it("caps the delay and forgets a key that stayed quiet", () => {
    let now = 0;
    const throttle = new FailureThrottle(1, 10_000, { now: () => now });
    for (let i = 0; i < 40; i++) throttle.recordFailure("k");
    expect(throttle.retryAfter("k")).toBe(10_000);
    now += 20_000;
    throttle.recordFailure("k");
    expect(throttle.retryAfter("k")).toBe(1000);
  });

  it("does not let one client lock out the owner at another address", () => {
    const throttle = new FailureThrottle(3, 900_000);
    for (let i = 0; i < 50; i++) throttle.recordFailure("admin@example.com 198.51.100.7");
    expect(throttle.retryAfter("admin@example.com 198.51.100.7")).toBeGreaterThan(0);
    expect(throttle.retryAfter("admin@example.com 203.0.113.9")).toBe(0);
  });

  it("stays bounded, and a failure costs the same with a full table", () => {
    const throttle = new FailureThrottle(1, 900_000, { maxEntries: 100_000 });
    const timeFailures = (n: number, offset: number) => {
      const started = performance.now();
      for (let i = 0; i < n; i++) throttle.recordFailure(`user${offset + i}@example.com 10.0.0.1`);
      return performance.now() - started;
    };
    timeFailures(1_000, 0);
    const empty = timeFailures(10_000, 1_000);
    timeFailures(200_000, 20_000);
    expect(throttle.size).toBeLessThanOrEqual(100_000);
    const full = timeFailures(10_000, 500_000);
    // Before: each failure scanned the table (35 ms per failure at 100k entries).
    expect(full).toBeLessThan(Math.max(empty * 10, 200));
    expect(throttle.size).toBeLessThanOrEqual(100_000);
    // The oldest went first; the newest are remembered.
    expect(throttle.retryAfter("user0@example.com 10.0.0.1")).toBe(0);
    expect(throttle.retryAfter("user509999@example.com 10.0.0.1")).toBeGreaterThan(0);
  });
});

describe("RateLimit", () => {
  it("allows max events per window per key", () => {
    let now = 0;
    const limit = new RateLimit(2, 60_000, { now: () => now });
    expect([limit.take("a"), limit.take("a"), limit.take("b")]).toEqual([0, 0, 0]);
    expect(limit.take("a")).toBe(60_000);
    now += 30_000;
    expect(limit.take("a")).toBe(30_000);
    now += 30_000;
    expect(limit.take("a")).toBe(0);
  });
});
