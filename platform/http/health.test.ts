// Tests for the gRPC health service over a real (in-memory) Connect transport.
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { HealthState, healthRoutes, ServingStatus } from "./health.js";

function setup() {
  const state = new HealthState();
  const client = createClient(Health, createRouterTransport(healthRoutes(state)));
  return { state, client };
}

// Polls instead of sleeping a fixed time: the server side of a stream settles asynchronously.
async function eventually(assertion: () => void): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return assertion();
    } catch (error) {
      if (i >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

describe("Health.Check", () => {
  it("reports the overall server as SERVING from the start", async () => {
    const { client } = setup();
    expect((await client.check({ service: "" })).status).toBe(ServingStatus.SERVING);
  });

  it("reports a registered service's current status", async () => {
    const { state, client } = setup();
    state.set("bazaar.account.v1.AccountService", ServingStatus.SERVING);
    expect((await client.check({ service: "bazaar.account.v1.AccountService" })).status).toBe(
      ServingStatus.SERVING,
    );
    state.set("bazaar.account.v1.AccountService", ServingStatus.NOT_SERVING);
    expect((await client.check({ service: "bazaar.account.v1.AccountService" })).status).toBe(
      ServingStatus.NOT_SERVING,
    );
  });

  it("answers NotFound for an unknown service", async () => {
    const { client } = setup();
    const error = await client.check({ service: "nope.v1.Nope" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.NotFound);
  });
});

describe("Health.Watch", () => {
  it("sends the current status, then each change, and ends at shutdown", async () => {
    const { state, client } = setup();
    state.set("svc", ServingStatus.SERVING);
    const received: ServingStatus[] = [];
    const done = (async () => {
      for await (const { status } of client.watch({ service: "svc" })) {
        received.push(status);
        if (received.length === 1) {
          state.set("svc", ServingStatus.SERVING); // no change: must not be sent
          state.set("svc", ServingStatus.NOT_SERVING);
        }
        if (received.length === 2) {
          state.set("svc", ServingStatus.SERVING);
        }
      }
    })();
    await eventually(() => expect(received).toHaveLength(3));
    state.shutdown();
    await done;
    expect(received).toEqual([
      ServingStatus.SERVING,
      ServingStatus.NOT_SERVING,
      ServingStatus.SERVING,
      ServingStatus.NOT_SERVING,
    ]);
    expect(state.watcherCount).toBe(0);
  });

  it("sends SERVICE_UNKNOWN for an unknown service and keeps watching", async () => {
    const { state, client } = setup();
    const received: ServingStatus[] = [];
    const done = (async () => {
      for await (const { status } of client.watch({ service: "later" })) {
        received.push(status);
        if (received.length === 1) state.set("later", ServingStatus.SERVING);
      }
    })();
    await eventually(() => expect(received).toHaveLength(2));
    state.shutdown();
    await done;
    expect(received).toEqual([
      ServingStatus.SERVICE_UNKNOWN,
      ServingStatus.SERVING,
      ServingStatus.NOT_SERVING,
    ]);
  });

  it("stops and releases its listener when the client cancels", async () => {
    const { state, client } = setup();
    const abort = new AbortController();
    const received: ServingStatus[] = [];
    const done = (async () => {
      for await (const { status } of client.watch({ service: "" }, { signal: abort.signal })) {
        received.push(status);
      }
    })().catch((e: unknown) => e);
    await eventually(() => expect(state.watcherCount).toBe(1));
    abort.abort();
    const error = await done;
    expect(ConnectError.from(error).code).toBe(Code.Canceled);
    await eventually(() => expect(state.watcherCount).toBe(0));
    expect(received).toEqual([ServingStatus.SERVING]);
  });

  it("ignores updates after shutdown and ends new watches at once", async () => {
    const { state, client } = setup();
    state.shutdown();
    state.set("", ServingStatus.SERVING);
    expect(state.get("")).toBe(ServingStatus.NOT_SERVING);
    const received: ServingStatus[] = [];
    for await (const { status } of client.watch({ service: "" })) received.push(status);
    expect(received).toEqual([ServingStatus.NOT_SERVING]);
    expect(state.watcherCount).toBe(0);
  });
});
