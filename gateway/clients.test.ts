// The gateway's retry rule (platform/http/retry.ts applied to its backends), against a stubbed
// transport step: which calls are sent again, after which failures.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AccountService } from "../gen/bazaar/account/v1/account_pb.js";
import { CreateOrderRequestSchema, OrderService } from "../gen/bazaar/order/v1/order_pb.js";
import { retryBackendCalls } from "./clients.js";

const nodeError = (code: string) => Object.assign(new Error(`connect ${code}`), { code });
const reset = () =>
  new ConnectError("read ECONNRESET", Code.Aborted, undefined, undefined, nodeError("ECONNRESET"));
const refused = () =>
  new ConnectError(
    "connect ECONNREFUSED",
    Code.Unavailable,
    undefined,
    undefined,
    nodeError("ECONNREFUSED"),
  );

function call(method: UnaryRequest["method"], failures: ConnectError[], message: unknown = {}) {
  let attempts = 0;
  const next = async () => {
    attempts++;
    const failure = failures.shift();
    if (failure) throw failure;
    return { stream: false } as UnaryResponse;
  };
  const req = {
    method,
    message,
    stream: false,
    signal: new AbortController().signal,
  } as unknown as UnaryRequest;
  const result = (retryBackendCalls(next as never) as (r: UnaryRequest) => Promise<unknown>)(req);
  return { result, attempts: () => attempts };
}

describe("retryBackendCalls", () => {
  it("sends a read again after a reset connection, up to three attempts", async () => {
    const read = call(AccountService.method.batchGetAccounts, [reset(), reset()]);
    await expect(read.result).resolves.toBeDefined();
    expect(read.attempts()).toBe(3);
    const down = call(AccountService.method.getAccount, [reset(), reset(), reset()]);
    await expect(down.result).rejects.toThrow(/ECONNRESET/);
    expect(down.attempts()).toBe(3);
  });

  it("sends a write again only when it never left, or when it carries an idempotency key", async () => {
    const write = call(AccountService.method.createAccount, [reset()]);
    await expect(write.result).rejects.toThrow(/ECONNRESET/);
    expect(write.attempts()).toBe(1);
    const notSent = call(AccountService.method.login, [refused()]);
    await expect(notSent.result).resolves.toBeDefined();
    expect(notSent.attempts()).toBe(2);
    const keyed = call(
      OrderService.method.createOrder,
      [reset()],
      create(CreateOrderRequestSchema, { idempotencyKey: "k-1" }),
    );
    await expect(keyed.result).resolves.toBeDefined();
    expect(keyed.attempts()).toBe(2);
    const unkeyed = call(
      OrderService.method.createOrder,
      [reset()],
      create(CreateOrderRequestSchema),
    );
    await expect(unkeyed.result).rejects.toThrow(/ECONNRESET/);
    expect(unkeyed.attempts()).toBe(1);
  });

  it("does not repeat an answer the service chose, nor a passed deadline", async () => {
    const denied = call(AccountService.method.getAccount, [
      new ConnectError("no", Code.PermissionDenied),
    ]);
    await expect(denied.result).rejects.toThrow(/no/);
    expect(denied.attempts()).toBe(1);
    const late = call(AccountService.method.getAccount, [
      new ConnectError("the operation timed out", Code.DeadlineExceeded),
    ]);
    await expect(late.result).rejects.toThrow(/timed out/);
    expect(late.attempts()).toBe(1);
  });
});
