// The platform server's life cycle with a handler whose timing the test controls.
import net from "node:net";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, it } from "vitest";
import {
  AccountService,
  file_bazaar_account_v1_account,
} from "../../gen/bazaar/account/v1/account_pb.js";
import { createLogger } from "../observability/logger.js";
import { createMetrics } from "../observability/metrics.js";
import { testAuthority } from "../testing.js";
import { serve } from "./server.js";

async function startGatedServer(ready: () => Promise<void> = async () => {}) {
  let entered = 0;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const server = await serve({
    routes: (router) =>
      router.service(AccountService, {
        async createAccount(req) {
          entered++;
          await gate;
          return { account: { name: req.name } };
        },
      }),
    files: [file_bazaar_account_v1_account],
    serviceNames: ["bazaar.account.v1.AccountService"],
    authority: testAuthority().authority,
    logger: createLogger({ service: "test", level: "silent", pretty: false }),
    metrics: createMetrics("test"),
    ready,
    corsOrigins: [],
    maxMessageBytes: 1024 * 1024,
    host: "127.0.0.1",
    port: 0,
    headersTimeoutMs: 500,
  });
  return { server, open, entered: () => entered };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
}

describe("graceful stop", () => {
  it("lets calls in flight on HTTP/2 and HTTP/1.1 finish, then refuses new connections", async () => {
    const { server, open, entered } = await startGatedServer();
    const grpc = createClient(AccountService, createGrpcTransport({ baseUrl: server.url }));
    const connect = createClient(
      AccountService,
      createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }),
    );
    const calls = Array.from({ length: 6 }, (_, i) =>
      (i % 2 ? grpc : connect).createAccount({ name: `call ${i}` }),
    );
    await until(() => entered() === 6);

    const stopped = server.close(5_000);
    await new Promise((r) => setTimeout(r, 50));
    const ready = await fetch(`${server.url}/readyz`).catch((error: unknown) => error);
    expect(ready).toBeInstanceOf(Error); // the listener no longer accepts
    open();
    const results = await Promise.all(calls);
    await stopped;
    expect(results.map((r) => r.account?.name)).toEqual(
      Array.from({ length: 6 }, (_, i) => `call ${i}`),
    );

    const after = await createClient(
      AccountService,
      createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }),
    )
      .createAccount({ name: "late" })
      .catch((error: unknown) => ConnectError.from(error));
    expect(after).toBeInstanceOf(ConnectError);
    expect((after as ConnectError).code).toBe(Code.Unavailable);
  });

  it("readiness first, then drain: unready at once, still serving new calls until drainMs", async () => {
    const { server, open } = await startGatedServer();
    open();
    const connect = createClient(
      AccountService,
      createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }),
    );
    await connect.createAccount({ name: "before" });
    const started = Date.now();
    const stopped = server.close(1_000, 600);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    // A balancer has not noticed yet: calls (on new connections too) are still answered, each
    // telling its client to reconnect.
    const during = await fetch(`${server.url}/healthz`);
    expect(during.headers.get("connection")).toBe("close");
    expect((await connect.createAccount({ name: "during" })).account?.name).toBe("during");
    await stopped;
    expect(Date.now() - started).toBeGreaterThanOrEqual(590);
    const after = await connect
      .createAccount({ name: "after" })
      .catch((error: unknown) => ConnectError.from(error));
    expect((after as ConnectError).code).toBe(Code.Unavailable);
  });

  it("cancels what still runs when the grace period is over", async () => {
    const { server, entered } = await startGatedServer();
    const grpc = createClient(AccountService, createGrpcTransport({ baseUrl: server.url }));
    const call = grpc
      .createAccount({ name: "forever" })
      .catch((error: unknown) => ConnectError.from(error));
    await until(() => entered() === 1);
    const started = Date.now();
    await server.close(200);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await call).toBeInstanceOf(ConnectError);
  });
});

describe("probes", () => {
  it("says not ready while the database does not answer, and alive all the same", async () => {
    let databaseUp = false;
    const { server } = await startGatedServer(async () => {
      if (!databaseUp) throw new Error("connection refused");
    });
    try {
      const down = await fetch(`${server.url}/readyz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toEqual({
        status: "not ready",
        reason: "database does not answer",
      });
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      databaseUp = true;
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      const unknown = await fetch(`${server.url}/nope`);
      expect(unknown.status).toBe(404);
    } finally {
      await server.close(1_000);
    }
  });
});

describe("slow clients", () => {
  it("answers 408 and closes a connection that trickles its headers", async () => {
    const { server } = await startGatedServer();
    try {
      const { port } = new URL(server.url);
      const socket = net.connect(Number(port), "127.0.0.1");
      const started = Date.now();
      socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n");
      const trickle = setInterval(() => socket.write("X-Slow: 1\r\n"), 100);
      const reply = await new Promise<string>((resolve) => {
        let text = "";
        socket.on("data", (chunk) => {
          text += chunk;
        });
        socket.on("close", () => resolve(text));
      });
      clearInterval(trickle);
      expect(reply).toMatch(/^HTTP\/1.1 408/);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await server.close(1_000);
    }
  });
});
