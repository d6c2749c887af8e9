// GraphQL subscriptions over SSE against a real catalog server: every subscriber of a gateway
// shares one upstream WatchStock; a catalog restart costs subscribers neither a gap nor an
// error; graphql-sse's protocol works too; bad ids are refused like in queries.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LiveCatalog, startLiveCatalog } from "../services/catalog/live-testing.js";
import { type LiveGateway, startLiveGateway } from "./live/testing.js";
import type { Gateway } from "./server.js";
import { listeningGateway } from "./testing.js";

let catalog: LiveCatalog;
let gateway: Gateway;
let live: LiveGateway;

beforeAll(async () => {
  live = await startLiveGateway([10, 20, 30]);
  ({ catalog, gateway } = live);
});

afterAll(async () => {
  await live?.close();
});

interface Subscriber {
  events: {
    data?: { stockChanged: { productId: string; stock: number } } | null;
    errors?: unknown[];
    extensions?: { cursor?: string };
  }[];
  /** The SSE `id:` of each event (undefined where it had none), in step with `events`. */
  ids: (string | undefined)[];
  stop(): void;
  done: Promise<void>;
}

/** A GraphQL-over-SSE subscriber (Yoga's own protocol, or graphql-sse's at /graphql/stream). */
function subscribe(
  query: string,
  variables: object,
  path = "/graphql",
  headers: Record<string, string> = {},
): Subscriber {
  const abort = new AbortController();
  const events: Subscriber["events"] = [];
  const ids: Subscriber["ids"] = [];
  let body: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const done = (async () => {
    const res = await gateway.fetch(`http://gateway${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", ...headers },
      body: JSON.stringify({ query, variables }),
      signal: abort.signal,
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    body = reader;
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) return;
      buffer += decoder.decode(value, { stream: true });
      for (let cut = buffer.indexOf("\n\n"); cut !== -1; cut = buffer.indexOf("\n\n")) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trim())
          .join("\n");
        if (/^event: ?next/m.test(block) && data) {
          events.push(JSON.parse(data));
          ids.push(/^id: ?(.*)$/m.exec(block)?.[1]);
        }
      }
    }
  })().catch((error: unknown) => {
    if (!abort.signal.aborted) throw error;
  });
  // In memory there is no socket to close: going away is cancelling the response body.
  const stop = () => {
    abort.abort();
    void body?.cancel().catch(() => {});
  };
  return { events, ids, stop, done };
}

const stockQuery = `subscription ($ids: [ID!]!) {
  stockChanged(productIds: $ids) { productId stock product { name stock } }
}`;

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const stocks = (s: Subscriber, id: string) =>
  s.events
    .map((e) => e.data?.stockChanged)
    .filter((u) => u?.productId === id)
    .map((u) => u?.stock);

describe("GraphQL subscriptions", () => {
  it("shares one upstream stream among subscribers, each getting the current stock, then changes", async () => {
    const [a, b, c] = catalog.products as [string, string, string];
    const opened = gateway.live.stock.upstreamsOpened;
    const first = subscribe(stockQuery, { ids: [a, b] });
    const second = subscribe(stockQuery, { ids: [b, c] });
    await until(() => first.events.length === 2 && second.events.length === 2);
    expect(first.events[0]?.data?.stockChanged).toMatchObject({
      productId: a,
      stock: 10,
    });
    expect(first.events[0]?.data?.stockChanged).toHaveProperty("product.name", "Live product 0");
    await until(() => gateway.live.stock.watching.length === 3);
    // One upstream stream for the union (opened at most once per change of the set).
    expect(gateway.live.stock.upstreamsOpened - opened).toBeLessThanOrEqual(2);
    await catalog.setStock(b, 19);
    await catalog.setStock(a, 9);
    await until(() => stocks(first, a).at(-1) === 9 && stocks(second, b).at(-1) === 19);
    expect(stocks(first, b)).toEqual([20, 19]);
    expect(stocks(second, b)).toEqual([20, 19]);
    expect(stocks(second, a)).toEqual([]);
    // product resolves fresh for each event, not from the first event's loader cache.
    const last = first.events.at(-1)?.data?.stockChanged as unknown as {
      product: { stock: number };
    };
    expect(last.product.stock).toBe(9);
    first.stop();
    second.stop();
    await until(
      () => gateway.live.stock.subscribers === 0 && gateway.live.stock.watching.length === 0,
    );
  });

  it("resumes from its cursor when the catalog restarts: no gap, no error", async () => {
    const [, , c] = catalog.products as [string, string, string];
    const sub = subscribe(stockQuery, { ids: [c] });
    await until(() => sub.events.length === 1);
    // Changes made while the gateway cannot reach its catalog: through another replica.
    const other = await startLiveCatalog([], { database: catalog.database });
    await catalog.stopServer();
    try {
      await other.setStock(c, 31);
      await other.setStock(c, 32);
    } finally {
      await other.close();
    }
    await catalog.start();
    await until(() => stocks(sub, c).at(-1) === 32, 10_000);
    expect(sub.events.every((e) => e.errors === undefined)).toBe(true);
    await catalog.setStock(c, 33);
    await until(() => stocks(sub, c).at(-1) === 33);
    sub.stop();
  });

  it("speaks graphql-sse's protocol at /graphql/stream", async () => {
    const [a] = catalog.products as [string];
    const sub = subscribe(stockQuery, { ids: [a] }, "/graphql/stream");
    await until(() => sub.events.length === 1);
    await catalog.setStock(a, 8);
    await until(() => stocks(sub, a).at(-1) === 8);
    sub.stop();
  });

  it("resumes a reconnecting subscriber from its Last-Event-ID with only what it missed", async () => {
    const [a, b, c] = catalog.products as [string, string, string];
    // Earlier tests' subscribers are gone (a cancelled body is noticed at the next ping).
    await until(() => gateway.live.stock.subscribers === 0);
    // Another subscriber stays: this gateway's feed follows the three products throughout.
    const stays = subscribe(stockQuery, { ids: [a, b, c] });
    const first = subscribe(stockQuery, { ids: [a, b, c] });
    await until(() => first.events.length === 3 && stays.events.length === 3);
    await catalog.setStock(a, 41);
    await until(() => stocks(first, a).at(-1) === 41);
    // Once the subscriber has everything the feed has, its events carry a cursor as their id.
    const last = first.ids.at(-1) as string;
    expect(last).toMatch(/^1\./);
    expect(first.events.at(-1)?.extensions?.cursor).toBe(last);
    first.stop();
    await until(() => gateway.live.stock.subscribers === 1);
    // Missed while away: b twice. a and c did not change.
    await catalog.setStock(b, 42);
    await catalog.setStock(b, 43);
    await until(() => stocks(stays, b).at(-1) === 43);
    const resumed = subscribe(stockQuery, { ids: [a, b, c] }, "/graphql", {
      "last-event-id": last,
    });
    await until(() => resumed.events.length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(resumed.events.map((e) => e.data?.stockChanged?.productId)).toEqual([b]);
    expect(stocks(resumed, b)).toEqual([43]);
    await catalog.setStock(c, 44);
    await until(() => stocks(resumed, c).at(-1) === 44);
    resumed.stop();
    // A cursor that is not one (or a stale one): every current state again, never a gap.
    const fresh = subscribe(stockQuery, { ids: [a, b, c] }, "/graphql", {
      "last-event-id": "not a cursor",
    });
    await until(() => fresh.events.length === 3);
    fresh.stop();
    stays.stop();
  });

  it("gives graphql-sse's events their cursor, and resumes there from Last-Event-ID too", async () => {
    const [a, b] = catalog.products as [string, string];
    await until(() => gateway.live.stock.subscribers === 0);
    const stays = subscribe(stockQuery, { ids: [a, b] });
    const first = subscribe(stockQuery, { ids: [a, b] }, "/graphql/stream");
    await until(() => first.events.length === 2 && stays.events.length === 2);
    // Once the feed's re-subscription covers both subscribers, each change carries a cursor.
    await until(() => gateway.live.stock.settled);
    await catalog.setStock(a, 51);
    await until(() => stocks(first, a).at(-1) === 51);
    const cursor = first.events.at(-1)?.extensions?.cursor as string;
    expect(cursor).toMatch(/^1\./);
    first.stop();
    await catalog.setStock(b, 52);
    await until(() => stocks(stays, b).at(-1) === 52);
    const resumed = subscribe(stockQuery, { ids: [a, b] }, "/graphql/stream", {
      "last-event-id": cursor,
    });
    await until(() => resumed.events.length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(resumed.events.map((e) => e.data?.stockChanged)).toMatchObject([
      { productId: b, stock: 52 },
    ]);
    resumed.stop();
    stays.stop();
  });

  it("frees every subscriber whose client vanishes from a listening gateway, with nothing changing", async () => {
    const [a, b] = catalog.products as [string, string];
    const running = await listeningGateway({
      account: "http://127.0.0.1:1",
      catalog: catalog.url,
      order: "http://127.0.0.1:1",
    });
    try {
      const body = JSON.stringify({ query: stockQuery, variables: { ids: [a, b] } });
      const requests = await Promise.all(
        Array.from(
          { length: 200 },
          () =>
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
                  // Both products' stock: the subscription is in place.
                  if ((text.match(/event: next/g) ?? []).length >= 2) resolve(request);
                });
              });
              request.on("error", reject);
              request.end(body);
            }),
        ),
      );
      const feed = running.gateway.live.stock;
      expect(feed.subscribers).toBe(200);
      for (const request of requests) request.destroy();
      // No stock changes meanwhile: only the closed connections can tell the gateway.
      await until(() => feed.subscribers === 0 && feed.watching.length === 0, 5_000);
    } finally {
      await running.stop();
    }
  });

  it("refuses unknown products and bad id lists as queries would", async () => {
    const res = await gateway.fetch("http://gateway/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
      body: JSON.stringify({
        query: stockQuery,
        variables: { ids: ["01900000-0000-7000-8000-000000000000"] },
      }),
    });
    const text = await res.text();
    expect(text).toContain("NOT_FOUND");
    const bad = subscribe(stockQuery, { ids: [] });
    await bad.done;
    expect(JSON.stringify(bad.events)).toContain("BAD_USER_INPUT");
  });
});
