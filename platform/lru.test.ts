import { describe, expect, it } from "vitest";
import { Lru } from "./lru.js";

describe("Lru", () => {
  it("keeps an entry that is read while many others come and go", () => {
    const cache = new Lru<number>(10);
    cache.set("hot", 1);
    for (let i = 0; i < 1_000; i++) {
      cache.set(`cold ${i}`, i);
      expect(cache.get("hot")).toBe(1);
    }
    expect(cache.size).toBeLessThanOrEqual(10);
  });

  it("forgets an entry nobody reads once enough others were written", () => {
    const cache = new Lru<number>(10);
    cache.set("once", 1);
    for (let i = 0; i < 4; i++) cache.set(`other ${i}`, i);
    expect(cache.get("once")).toBe(1);
    for (let i = 0; i < 10; i++) cache.set(`later ${i}`, i);
    expect(cache.get("once")).toBeUndefined();
    expect(cache.get("later 9")).toBe(9);
    expect(cache.size).toBeLessThanOrEqual(10);
  });

  it("forgets a deleted entry in either generation", () => {
    const cache = new Lru<number>(4);
    cache.set("a", 1);
    cache.set("b", 2); // the young generation fills: a and b are now the old one
    cache.set("c", 3);
    cache.delete("a");
    cache.delete("c");
    expect([cache.get("a"), cache.get("b"), cache.get("c")]).toEqual([undefined, 2, undefined]);
  });
});
