// batched(): calls in one turn of the event loop share one run; each caller gets its own answer.
import { describe, expect, it } from "vitest";
import { batched, batchedByUuid } from "./batcher.js";

describe("batched", () => {
  it("runs the keys asked for in one turn once, answering each (missing ones too)", async () => {
    const runs: (readonly number[])[] = [];
    const double = batched(
      async (keys: readonly number[]) => {
        runs.push(keys);
        return new Map(keys.filter((k) => k !== 3).map((k) => [k, k * 2]));
      },
      { maxBatch: 10, missing: () => -1 },
    );
    const answers = await Promise.all([double(1), double(2), double(1), double(3)]);
    expect(answers).toEqual([2, 4, 2, -1]);
    expect(runs).toEqual([[1, 2, 3]]);
    expect(await double(5)).toBe(10);
    expect(runs).toHaveLength(2);
  });

  it("splits a turn into runs of at most maxBatch keys", async () => {
    const sizes: number[] = [];
    const same = batched(
      async (keys: readonly number[]) => {
        sizes.push(keys.length);
        return new Map(keys.map((k) => [k, k]));
      },
      { maxBatch: 3, missing: () => 0 },
    );
    const answers = await Promise.all(Array.from({ length: 7 }, (_, i) => same(i)));
    expect(answers).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(sizes).toEqual([3, 3, 1]);
  });

  it("rejects the callers of a key that `missing` refuses, and answers the others", async () => {
    const strict = batched(
      async (keys: readonly number[]) => new Map(keys.filter((k) => k > 0).map((k) => [k, k])),
      {
        maxBatch: 10,
        missing: (key) => {
          throw new Error(`no answer for ${key}`);
        },
      },
    );
    const answers = await Promise.allSettled([strict(1), strict(0), strict(0), strict(2)]);
    expect(answers.map((a) => (a.status === "fulfilled" ? a.value : String(a.reason)))).toEqual([
      1,
      "Error: no answer for 0",
      "Error: no answer for 0",
      2,
    ]);
  });

  it("hands a failed run's error to every caller of that run, and only them", async () => {
    const flaky = batched(
      async (keys: readonly number[]) => {
        if (keys.includes(0)) throw new Error("boom");
        return new Map(keys.map((k) => [k, k]));
      },
      { maxBatch: 2, missing: () => -1 },
    );
    const answers = await Promise.allSettled([flaky(0), flaky(1), flaky(2)]);
    expect(answers.map((a) => a.status)).toEqual(["rejected", "rejected", "fulfilled"]);
    expect(await flaky(4)).toBe(4);
  });

  it("by UUID: compares ids lower-case, and answers a malformed one without running it", async () => {
    const runs: (readonly string[])[] = [];
    const id = "01a210f2-ce36-7040-bab6-c5835ff60e8e";
    const find = batchedByUuid(
      async (ids) => {
        runs.push(ids);
        return new Map(ids.map((i) => [i, `found ${i}`]));
      },
      { maxBatch: 10, missing: () => "none" },
    );
    const answers = await Promise.all([find(id), find(id.toUpperCase()), find("42'; drop")]);
    expect(answers).toEqual([`found ${id}`, `found ${id}`, "none"]);
    expect(runs).toEqual([[id]]);
  });

  it("hands run the context of every caller it serves, beside its key", async () => {
    const seen: (readonly (readonly string[])[])[] = [];
    const find = batched<number, number, string>(
      async (keys, contexts) => {
        seen.push(contexts);
        return new Map(keys.map((k) => [k, k]));
      },
      { maxBatch: 2, missing: () => -1 },
    );
    await Promise.all([find(1, "a"), find(1, "b"), find(2, "c"), find(3, "d")]);
    expect(seen).toEqual([[["a", "b"], ["c"]], [["d"]]]);
  });

  it("with maxInFlight, keys asked while runs are under way wait and leave together", async () => {
    const runs: (readonly number[])[] = [];
    let release: () => void = () => {};
    let inFlight = 0;
    let most = 0;
    const slow = batched(
      async (keys: readonly number[]) => {
        runs.push(keys);
        inFlight++;
        most = Math.max(most, inFlight);
        if (runs.length === 1) await new Promise<void>((resolve) => (release = resolve));
        inFlight--;
        return new Map(keys.map((k) => [k, k * 10]));
      },
      { maxBatch: 3, missing: () => -1, maxInFlight: 1 },
    );
    const first = slow(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(runs).toEqual([[1]]);
    // Asked in four different turns while the first run is under way.
    const later: Promise<number>[] = [];
    for (const key of [2, 3, 4, 5]) {
      later.push(slow(key));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(runs).toEqual([[1]]);
    release();
    expect(await Promise.all([first, ...later])).toEqual([10, 20, 30, 40, 50]);
    // They left together once it ended, maxBatch at a time, one run at a time.
    expect(runs).toEqual([[1], [2, 3, 4], [5]]);
    expect(most).toBe(1);
  });

  it("with maxInFlight, a failed run lets the waiting keys go", async () => {
    let calls = 0;
    const flaky = batched(
      async (keys: readonly number[]) => {
        calls++;
        if (calls === 1) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          throw new Error("boom");
        }
        return new Map(keys.map((k) => [k, k]));
      },
      { maxBatch: 10, missing: () => -1, maxInFlight: 1 },
    );
    const first = flaky(1);
    await new Promise((resolve) => setImmediate(resolve));
    const second = flaky(2);
    await expect(first).rejects.toThrow("boom");
    expect(await second).toBe(2);
  });
});
