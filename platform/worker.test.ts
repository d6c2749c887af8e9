// The background loop: passes repeat, stop() waits for the pass in flight, a failure is logged
// and the loop goes on.
import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createLogger } from "./observability/logger.js";
import { waitUntil } from "./testing.js";
import { Loop } from "./worker.js";

const silent = createLogger({ service: "worker-test", level: "silent", pretty: false });

const until = (condition: () => boolean, timeoutMs = 2_000) =>
  waitUntil("the condition", condition, { timeoutMs, intervalMs: 5 });

describe("Loop", () => {
  it("runs a pass every interval once started, and none before", async () => {
    let passes = 0;
    const loop = new Loop({
      name: "counter",
      intervalMs: 10,
      logger: silent,
      pass: async () => {
        passes++;
      },
    });
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(passes).toBe(0);
    loop.start();
    await until(() => passes >= 3);
    await loop.stop();
    const stoppedAt = passes;
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(passes).toBe(stoppedAt);
  });

  it("runs again at once while a pass reports more work", async () => {
    let passes = 0;
    const loop = new Loop({
      name: "backlog",
      intervalMs: 60_000,
      runAtStart: true,
      logger: silent,
      pass: async () => ++passes,
      more: (n) => n < 5,
    });
    loop.start();
    await until(() => passes === 5);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(passes).toBe(5);
    await loop.stop();
  });

  it("stop() waits for the pass in flight", async () => {
    let release = () => {};
    let finished = false;
    let started = false;
    const loop = new Loop({
      name: "slow",
      intervalMs: 10,
      runAtStart: true,
      logger: silent,
      pass: async () => {
        started = true;
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        finished = true;
      },
    });
    loop.start();
    await until(() => started);
    let stopped = false;
    const stopping = loop.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(finished).toBe(true);
  });

  it("logs a failed pass and keeps looping", async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: "warn" },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    let passes = 0;
    const loop = new Loop({
      name: "flaky",
      intervalMs: 5,
      runAtStart: true,
      logger,
      pass: async () => {
        passes++;
        if (passes === 1) throw new Error("database unreachable");
      },
    });
    loop.start();
    await until(() => passes >= 3);
    await loop.stop();
    const failure = lines.map((line) => JSON.parse(line)).find((l) => l.worker === "flaky");
    expect(failure?.msg).toBe("flaky failed; trying again later");
    expect(failure?.err?.message).toBe("database unreachable");
  });

  it("runOnce() runs after the pass in flight and hands its error to the caller", async () => {
    const order: string[] = [];
    let release = () => {};
    let fail = false;
    const loop = new Loop({
      name: "serial",
      intervalMs: 0,
      runAtStart: true,
      logger: silent,
      pass: async () => {
        order.push("start");
        if (fail) throw new Error("no");
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        order.push("end");
      },
    });
    loop.start();
    await until(() => order.length === 1);
    fail = true;
    const second = loop.runOnce();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(order).toEqual(["start"]);
    release();
    await expect(second).rejects.toThrow("no");
    expect(order).toEqual(["start", "end", "start"]);
    await loop.stop();
  });
});
