// The gateway's client interceptor that repeats a read which met a reset connection, against a
// stubbed transport step.
import { Code, ConnectError, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AccountService } from "../gen/bazaar/account/v1/account_pb.js";
import { retryResetReads } from "./clients.js";

const reset = () => new ConnectError("read ECONNRESET", Code.Aborted);

function call(
  method: (typeof AccountService.method)[keyof typeof AccountService.method],
  failures: ConnectError[],
) {
  let attempts = 0;
  const next = async () => {
    attempts++;
    const failure = failures.shift();
    if (failure) throw failure;
    return { stream: false } as UnaryResponse;
  };
  const req = {
    method,
    stream: false,
    signal: new AbortController().signal,
  } as unknown as UnaryRequest;
  const result = (retryResetReads(next as never) as (r: UnaryRequest) => Promise<unknown>)(req);
  return { result, attempts: () => attempts };
}

describe("retryResetReads", () => {
  it("sends a read once more after a reset connection", async () => {
    const read = call(AccountService.method.batchGetAccounts, [reset()]);
    await expect(read.result).resolves.toBeDefined();
    expect(read.attempts()).toBe(2);
  });

  it("does not repeat a write, a second reset, or any other failure", async () => {
    const write = call(AccountService.method.createAccount, [reset()]);
    await expect(write.result).rejects.toThrow(/ECONNRESET/);
    expect(write.attempts()).toBe(1);
    const twice = call(AccountService.method.getAccount, [reset(), reset()]);
    await expect(twice.result).rejects.toThrow(/ECONNRESET/);
    expect(twice.attempts()).toBe(2);
    const denied = call(AccountService.method.getAccount, [
      new ConnectError("no", Code.PermissionDenied),
    ]);
    await expect(denied.result).rejects.toThrow(/no/);
    expect(denied.attempts()).toBe(1);
  });
});
