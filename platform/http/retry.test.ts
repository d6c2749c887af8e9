// When a call is sent again: a real refused connection counts as never sent, whatever the
// method; a repeatable call is retried after no answer, within its attempts and deadline.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import { freePort } from "../testing.js";
import { neverSent, noAnswer, withRetries } from "./retry.js";

describe("neverSent", () => {
  it("recognises a refused connection through connect-node's error", async () => {
    const client = createClient(
      AccountService,
      createConnectTransport({
        baseUrl: `http://127.0.0.1:${await freePort()}`,
        httpVersion: "1.1",
      }),
    );
    const error = await client.createAccount({}).catch((e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(Code.Unavailable);
    expect(neverSent(error)).toBe(true);
    expect(neverSent(new ConnectError("gone", Code.Unavailable))).toBe(false);
  });
});

describe("withRetries", () => {
  const unavailable = () => new ConnectError("down", Code.Unavailable);
  const failing = (failures: number) => {
    let calls = 0;
    return {
      attempt: async () => {
        calls++;
        if (calls <= failures) throw unavailable();
        return "ok";
      },
      calls: () => calls,
    };
  };
  const policy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 };

  it("retries a repeatable call that got no answer, up to the attempts", async () => {
    const twice = failing(2);
    await expect(withRetries(twice.attempt, { policy, repeatable: true })).resolves.toBe("ok");
    expect(twice.calls()).toBe(3);
    const always = failing(9);
    await expect(withRetries(always.attempt, { policy, repeatable: true })).rejects.toThrow(/down/);
    expect(always.calls()).toBe(3);
  });

  it("leaves a call that may not be repeated, a fired signal and a spent deadline alone", async () => {
    const write = failing(1);
    await expect(withRetries(write.attempt, { policy, repeatable: false })).rejects.toThrow();
    expect(write.calls()).toBe(1);
    const cancelled = failing(1);
    const signal = AbortSignal.abort();
    await expect(
      withRetries(cancelled.attempt, { policy, repeatable: true, signal }),
    ).rejects.toThrow();
    expect(cancelled.calls()).toBe(1);
    const late = failing(1);
    await expect(
      withRetries(late.attempt, { policy, repeatable: true, deadline: Date.now() }),
    ).rejects.toThrow();
    expect(late.calls()).toBe(1);
    expect(noAnswer(new ConnectError("late", Code.DeadlineExceeded))).toBe(false);
  });
});
