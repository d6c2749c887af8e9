// stockChanged at scale (gateway/live/stock-frames.ts, gateway/live/stock-feed.ts): subscribers
// of the same subscription get the same bytes from one execution per state; a subscriber that
// does not read gets a bounded number of batches and, once it reads, the latest stock.
import http from "node:http";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CatalogService } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { createLogger } from "../platform/observability/logger.js";
import type { LiveCatalog } from "../services/catalog/live-testing.js";
import { StockFeed } from "./live/stock-feed.js";
import { gatewayOver, type LiveGateway, startLiveGateway } from "./live/testing.js";
import type { Gateway } from "./server.js";
import { listeningGateway } from "./testing.js";

let catalog: LiveCatalog;
let gateway: Gateway;
let live: LiveGateway;

beforeAll(async () => {
  live = await startLiveGateway([100, 200, 300]);
  ({ catalog, gateway } = live);
});

afterAll(async () => {
  await live?.close();
});

/** A Yoga SSE subscriber keeping the raw text of its `next` frames; `paused` stops reading. */
function subscribe(query: string, variables: object) {
  const abort = new AbortController();
  const state = { frames: [] as string[], paused: false, resume: () => {} };
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const done = (async () => {
    const res = await gateway.fetch("http://gateway/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ query, variables }),
      signal: abort.signal,
    });
    reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      if (state.paused) await new Promise<void>((resolve) => (state.resume = resolve));
      const { value, done: ended } = await reader.read();
      if (ended) return;
      buffer += decoder.decode(value, { stream: true });
      for (let cut = buffer.indexOf("\n\n"); cut !== -1; cut = buffer.indexOf("\n\n")) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (block.startsWith("event: next")) state.frames.push(block);
      }
    }
  })().catch((error: unknown) => {
    if (!abort.signal.aborted) throw error;
  });
  const stocks = (id: string) =>
    state.frames
      .map((frame) => JSON.parse(frame.slice(frame.indexOf("data: ") + 6)))
      .map((result) => result.data.stockChanged)
      .filter((update) => update.productId === id)
      .map((update) => update.stock as number);
  const stop = () => {
    abort.abort();
    void reader?.cancel().catch(() => {});
  };
  return { state, stocks, stop, done };
}

const withProduct = `subscription ($ids: [ID!]!) {
  stockChanged(productIds: $ids) { productId stock product { name stock } }
}`;
const plain = `subscription ($ids: [ID!]!) { stockChanged(productIds: $ids) { productId stock } }`;

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("stockChanged for many subscribers", () => {
  it("gives subscribers of one subscription the same bytes, from one execution per state", async () => {
    const [a, b] = catalog.products as [string, string];
    const one = subscribe(withProduct, { ids: [a, b] });
    const two = subscribe(withProduct, { ids: [a, b] });
    const other = subscribe(plain, { ids: [a, b] });
    await until(() => [one, two, other].every((s) => s.state.frames.length === 2));
    await until(() => gateway.live.stock.settled);
    const executions = gateway.live.frames.executions;
    const rendered = gateway.live.frames.rendered;
    const from = one.state.frames.length;
    for (const stock of [101, 102, 103]) {
      await catalog.setStock(a, stock);
      await until(() => one.stocks(a).at(-1) === stock && two.stocks(a).at(-1) === stock);
    }
    await until(() => other.stocks(a).at(-1) === 103);
    // Three states, two distinct subscriptions: six executions, whatever the subscribers.
    expect(gateway.live.frames.executions - executions).toBe(6);
    // And rendered into SSE bytes once per batch and subscription: the two share theirs.
    expect(gateway.live.frames.rendered - rendered).toBeLessThanOrEqual(6);
    expect(two.state.frames.slice(from)).toEqual(one.state.frames.slice(from));
    expect(one.stocks(a)).toEqual([100, 101, 102, 103]);
    // Each carries its cursor as the SSE id and in extensions, and `product` is the new state's.
    const last = one.state.frames.at(-1) as string;
    const cursor = /^id: (.+)$/m.exec(last)?.[1];
    expect(cursor).toMatch(/^1\./);
    const result = JSON.parse(last.slice(last.indexOf("data: ") + 6));
    expect(result.extensions.cursor).toBe(cursor);
    expect(result.data.stockChanged.product).toEqual({ name: "Live product 0", stock: 103 });
    for (const s of [one, two, other]) s.stop();
    await until(() => gateway.live.stock.subscribers === 0);
  });

  it("holds a bounded backlog for a subscriber that does not read, then gives it the latest", async () => {
    const ids = catalog.products.slice(0, 3) as string[];
    const slow = subscribe(plain, { ids });
    const fast = subscribe(plain, { ids });
    await until(() => slow.state.frames.length === 3 && fast.state.frames.length === 3);
    slow.state.paused = true;
    let stock = 1_000;
    const change = () => catalog.setStock(ids[stock % 3] as string, ++stock);
    // Until the response's own buffer (16 KB) is full: then the feed holds its batches.
    const stuck = async () => {
      await until(() => fast.stocks(ids[(stock - 1) % 3] as string).at(-1) === stock);
      await new Promise((resolve) => setTimeout(resolve, 100));
      return gateway.live.stock.busy === 1;
    };
    do {
      for (let i = 0; i < 20; i++) await change();
      expect(stock).toBeLessThan(2_000);
    } while (!(await stuck()));
    const buffered = stock - 1_000;
    const batches = gateway.live.stock.batches;
    for (let i = 0; i < 60; i++) await change();
    await until(() => fast.stocks(ids[(stock - 1) % 3] as string).at(-1) === stock);
    // Meanwhile the slow subscriber got no batch: its states waited, one per product.
    expect(gateway.live.stock.busy).toBe(1);
    const fastBatches = gateway.live.stock.batches - batches;
    expect(fastBatches).toBeGreaterThan(0);
    slow.state.paused = false;
    slow.state.resume();
    await until(() => ids.every((id) => slow.stocks(id).at(-1) === fast.stocks(id).at(-1)));
    // What its stream had buffered, then one batch of the latest state per product.
    expect(slow.state.frames.length).toBeLessThanOrEqual(3 + buffered + 3);
    slow.stop();
    fast.stop();
    await until(() => gateway.live.stock.subscribers === 0);
  });

  it("leaves no subscriber, timer or socket behind when 1,000 clients vanish while stock changes", async () => {
    const ids = catalog.products.slice(0, 2) as string[];
    const running = await listeningGateway({
      account: "http://127.0.0.1:1",
      catalog: catalog.url,
      order: "http://127.0.0.1:1",
    });
    const resources = (kind: string) =>
      process.getActiveResourcesInfo().filter((each) => each === kind).length;
    let changing = true;
    try {
      const before = { timers: resources("Timeout"), sockets: resources("TCPSocketWrap") };
      const body = JSON.stringify({ query: plain, variables: { ids } });
      const open = () =>
        new Promise<http.ClientRequest>((resolve, reject) => {
          const request = http.request(`${running.url}/graphql`, {
            method: "POST",
            agent: false,
            headers: { "content-type": "application/json", accept: "text/event-stream" },
          });
          request.on("response", (response) => {
            let text = "";
            response.on("data", (chunk: Buffer) => {
              text += chunk;
              if ((text.match(/event: next/g) ?? []).length >= 2) resolve(request);
            });
          });
          request.on("error", reject);
          request.end(body);
        });
      // In waves: 1,000 connections at once overflow the listen backlog on a loaded machine.
      const requests: http.ClientRequest[] = [];
      for (let wave = 0; wave < 10; wave++) {
        requests.push(...(await Promise.all(Array.from({ length: 100 }, open))));
      }
      const feed = running.gateway.live.stock;
      expect(feed.subscribers).toBe(1_000);
      // Each subscription has its ping timer and two sockets (both ends, in this process).
      expect(resources("Timeout") - before.timers).toBeGreaterThanOrEqual(1_000);
      let stock = 2_000;
      const changes = (async () => {
        while (changing) await catalog.setStock(ids[stock % 2] as string, ++stock);
      })();
      await until(() => feed.batches > 1_000 * 2 + 2_000, 20_000);
      for (const request of requests) request.destroy();
      await until(() => feed.subscribers === 0 && feed.watching.length === 0, 10_000);
      changing = false;
      await changes;
      // Left: the gateway's upstream and the catalog's database pool (both in this process),
      // a few sockets and timers; none per subscriber (each had its socket and ping timer).
      await until(() => resources("TCPSocketWrap") < before.sockets + 20, 10_000);
      expect(resources("Timeout") - before.timers).toBeLessThan(20);
    } finally {
      changing = false;
      await running.stop();
    }
  }, 120_000);

  // After the test that counts timers: the catalog's side of these streams ends a little later.
  it("stretches its tick rather than pass its batches per second, whatever the subscribers", async () => {
    const ids = catalog.products.slice(0, 3) as string[];
    // A session of its own, closed at the end: it leaves no timer to the tests after it.
    const sessionManager = new Http2SessionManager(catalog.url);
    const transport = createGrpcTransport({ baseUrl: catalog.url, sessionManager });
    const logger = createLogger({ service: "test", level: "silent", pretty: false });
    /** The shortest time between two batches of one of 10 subscribers while stock changes. */
    const shortestGap = async (options: { tickMs: number; batchesPerSecond?: number }) => {
      const feed = new StockFeed(createClient(CatalogService, transport), logger, options);
      const gaps: number[] = [];
      const streams = Array.from({ length: 10 }, () => feed.subscribe(ids));
      const reading = streams.map(async (stream) => {
        let last: number | undefined;
        for await (const _ of stream) {
          if (last !== undefined && feed.settled) gaps.push(performance.now() - last);
          last = performance.now();
        }
      });
      await until(() => feed.settled && feed.batches >= 10);
      let stock = 5_000;
      const endAt = Date.now() + 1_500;
      // Four writers at once, so that changes come faster than a 20 ms tick allows.
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (Date.now() < endAt) await catalog.setStock(ids[stock % 3] as string, ++stock);
        }),
      );
      const tickMs = feed.tickMs;
      for (const stream of streams) await stream.return?.();
      await Promise.all(reading);
      await feed.close();
      return { tickMs, shortest: Math.min(...gaps), gaps: gaps.length };
    };
    // 10 subscribers at 50 batches a second: a tick of 200 ms, never a batch sooner.
    const bounded = await shortestGap({ tickMs: 20, batchesPerSecond: 50 });
    expect(bounded.tickMs).toBe(200);
    expect(bounded.gaps).toBeGreaterThan(10);
    expect(bounded.shortest).toBeGreaterThanOrEqual(195);
    // Without the bound the same feed hands batches out far more often.
    const free = await shortestGap({ tickMs: 20 });
    expect(free.tickMs).toBe(20);
    expect(free.shortest).toBeLessThan(150);
    sessionManager.abort();
  });

  it("ends every subscription with `complete` when the gateway closes", async () => {
    const { gateway: closing, close } = gatewayOver(catalog.url);
    try {
      const texts = await Promise.all(
        [0, 1]
          .map(async () => {
            const res = await closing.fetch("http://gateway/graphql", {
              method: "POST",
              headers: { "content-type": "application/json", accept: "text/event-stream" },
              body: JSON.stringify({ query: plain, variables: { ids: catalog.products } }),
            });
            return res.text();
          })
          .concat(
            (async () => {
              await until(
                () => closing.live.stock.subscribers === 2 && closing.live.stock.batches >= 2,
              );
              await closing.close();
              return "";
            })(),
          ),
      );
      for (const text of texts.slice(0, 2)) {
        expect(text.match(/event: next/g)).toHaveLength(3);
        expect(text.endsWith("event: complete\ndata:\n\n")).toBe(true);
      }
      expect(closing.live.stock.subscribers).toBe(0);
    } finally {
      await close();
    }
  });
});
