// A whole service with NATS_URL set (the relay started by platform/host.ts): while NATS is down
// it stays ready, its changes succeed and /metrics shows the backlog; once NATS is up the
// backlog goes out, the bootstrap admin's AccountCreated included.
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { AccountService } from "../gen/bazaar/account/v1/account_pb.js";
import { decodeEvent } from "../platform/events/catalog.js";
import { streamName } from "../platform/events/nats.js";
import { natsServerMissing, readStream, TestNatsServer } from "../platform/events/testing.js";
import { createScratchDatabase, testAuthority, waitUntil } from "../platform/testing.js";
import { loadAccountConfig } from "./account/config.js";
import { startAccountService } from "./account/main.js";

const metric = (text: string, name: string) =>
  Number(text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m"))?.[1] ?? Number.NaN);

describe.skipIf(natsServerMissing() !== undefined)("a service publishing its events", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it("stays ready with NATS down, shows the backlog, and publishes it once NATS is up", async () => {
    const nats = await TestNatsServer.start();
    cleanup.push(() => nats.stop());
    await nats.pause();
    const database = await createScratchDatabase();
    cleanup.push(() => database.drop());
    const service = await startAccountService(
      loadAccountConfig({
        PORT: "0",
        HOST: "127.0.0.1",
        DATABASE_URL: database.url,
        ...testAuthority().authority.env("account"),
        LOG_LEVEL: "silent",
        NATS_URL: nats.url,
        OUTBOX_RELAY_INTERVAL_MS: "50",
      }),
    );
    cleanup.push(() => service.stop());
    const url = service.server.url;
    const client = createClient(
      AccountService,
      createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
    );
    const { account } = await client.createAccount({
      name: "Evented",
      email: "evented@example.com",
      password: "evented-password",
    });
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const before = await (await fetch(`${url}/metrics`)).text();
    // The bootstrap admin's AccountCreated and this one's.
    expect(metric(before, "outbox_pending")).toBe(2);
    expect(metric(before, "outbox_oldest_seconds")).toBeGreaterThan(0);

    await nats.resume();
    await waitUntil(
      "the backlog published",
      async () => {
        const text = await (await fetch(`${url}/metrics`)).text();
        return metric(text, "outbox_pending") === 0;
      },
      { timeoutMs: 30_000 },
    );
    const after = await (await fetch(`${url}/metrics`)).text();
    expect(after).toMatch(
      /^events_published_total\{subject="bazaar\.account\.v1\.AccountCreated"[^}]*\} 2$/m,
    );
    const stored = await readStream(nats.url, streamName("account"));
    const events = stored.map((m) => decodeEvent(m.subject, m.data));
    expect(events.map((e) => e.thingId)).toContain(account?.id);
    expect(events.map((e) => e.sequence)).toEqual([1, 1]);
  }, 60_000);
});
