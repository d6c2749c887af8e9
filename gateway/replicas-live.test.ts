// Two catalog replicas on one database and two gateways, one over each: a change made through
// either replica reaches the subscribers of both gateways, in order, exactly once per cursor.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../platform/observability/logger.js";
import { testAuthority } from "../platform/testing.js";
import { type LiveCatalog, startLiveCatalog } from "../services/catalog/live-testing.js";
import { createTransports } from "./clients.js";
import { loadGatewayConfig } from "./config.js";
import { createGateway, type Gateway } from "./server.js";

const silent = createLogger({ service: "test", level: "silent", pretty: false });
const replicas: LiveCatalog[] = [];
const gateways: { gateway: Gateway; close(): void }[] = [];

beforeAll(async () => {
  const { authority } = testAuthority();
  const first = await startLiveCatalog([100, 200], { authority });
  const second = await startLiveCatalog([], { authority, database: first.database });
  second.products.push(...first.products);
  replicas.push(first, second);
  for (const replica of replicas) {
    const config = loadGatewayConfig({
      PORT: "0",
      LOG_LEVEL: "silent",
      CATALOG_URL: replica.url,
      ACCOUNT_URL: "http://127.0.0.1:1",
      ORDER_URL: "http://127.0.0.1:1",
    });
    const made = createTransports(config);
    const gateway = createGateway({
      config,
      transports: made.transports,
      logger: silent,
      ready: async () => ({}) as never,
    });
    gateways.push({ gateway, close: made.close });
  }
});

afterAll(async () => {
  for (const { gateway, close } of gateways) {
    await gateway.close();
    close();
  }
  // The second replica shares the first's database: close it first.
  for (const replica of [...replicas].reverse()) await replica.close();
});

/** Reads stockChanged events from one gateway into `seen` (as [productId, stock]). */
function subscribe(gateway: Gateway, ids: string[]) {
  const seen: [string, number][] = [];
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  void (async () => {
    const res = await gateway.fetch("http://gateway/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({
        query: "subscription ($ids: [ID!]!) { stockChanged(productIds: $ids) { productId stock } }",
        variables: { ids },
      }),
    });
    reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (const match of buffer.matchAll(/^data: (.*)$/gm)) {
        const update = JSON.parse(match[1] as string).data?.stockChanged;
        if (update) seen.push([update.productId, update.stock]);
      }
      buffer = buffer.slice(buffer.lastIndexOf("\n\n") + 2);
    }
  })().catch(() => {});
  return { seen, stop: () => void reader?.cancel().catch(() => {}) };
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("live updates across replicas", () => {
  it("delivers every change through either replica to both gateways' subscribers, in order, once", async () => {
    const [a, b] = (replicas[0] as LiveCatalog).products as [string, string];
    const subscribers = gateways.flatMap(({ gateway }) => [
      subscribe(gateway, [a, b]),
      subscribe(gateway, [a]),
    ]);
    await until(() => subscribers.every((s) => s.seen.length >= 1));
    await until(() => subscribers.every((s, i) => s.seen.length === (i % 2 === 0 ? 2 : 1)));
    // Alternate replicas; each change is a new stock (states: a repeated one is not news).
    // The pauses let each change be seen on its own: without them a subscriber may be sent
    // only the latest of several (coalesced), which is also correct, but not what we count.
    const expected = { [a]: [100], [b]: [200] } as Record<string, number[]>;
    for (let i = 1; i <= 10; i++) {
      const replica = replicas[i % 2] as LiveCatalog;
      const product = i % 3 === 0 ? b : a;
      const stock = (expected[product]?.at(-1) ?? 0) - 1;
      expected[product]?.push(stock);
      await replica.setStock(product, stock);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await until(() =>
      subscribers.every((s, i) =>
        i % 2 === 0
          ? s.seen.length === (expected[a]?.length ?? 0) + (expected[b]?.length ?? 0)
          : s.seen.length === expected[a]?.length,
      ),
    );
    for (const [i, s] of subscribers.entries()) {
      const ofA = s.seen.filter(([id]) => id === a).map(([, stock]) => stock);
      expect(ofA).toEqual(expected[a]);
      if (i % 2 === 0)
        expect(s.seen.filter(([id]) => id === b).map(([, n]) => n)).toEqual(expected[b]);
    }
    for (const s of subscribers) s.stop();
  }, 30_000);
});
