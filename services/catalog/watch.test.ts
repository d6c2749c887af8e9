// WatchStock on a real server (the one-port server on port 0, real PostgreSQL): over gRPC/h2c,
// Connect/HTTP 1.1 and gRPC-Web; snapshot then changes, resume by cursor, caps, heartbeat, the
// ends (shutdown, token expiry), and 1,000 clients that vanish leaving nothing behind. Every
// change goes through UpdateProduct, so the catalog writes its own StockChanged events.
import {
  type Client,
  Code,
  ConnectError,
  createClient,
  createHandlerContext,
} from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CatalogService, type WatchStockResponse } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { kTokenExpiresAt } from "../../platform/auth/auth.js";
import type { DatabaseHandle } from "../../platform/data/database.js";
import { uuidv7 } from "../../platform/data/ids.js";
import { OutboxTail } from "../../platform/events/tail.js";
import { type Live, StreamLimits, watchStates } from "../../platform/events/watch.js";
import { type RunningServer, serve } from "../../platform/http/server.js";
import { createLogger } from "../../platform/observability/logger.js";
import { createMetrics } from "../../platform/observability/metrics.js";
import { bearer, openTestDatabase, testAuthority } from "../../platform/testing.js";
import { migrationsFolder } from "./config.js";
import { stockSource, stockSubjects } from "./live.js";
import { setStock } from "./live-testing.js";
import * as schema from "./schema.js";
import { catalogRoutes } from "./service.js";
import { CatalogStore } from "./store.js";

const logger = createLogger({ service: "test", level: "silent", pretty: false });
const { authority } = testAuthority();
let database: DatabaseHandle<typeof schema>;
let tail: OutboxTail;
let live: Live<number>;
let server: RunningServer;
const products: string[] = [];

async function startServerAt(caps = { perProcess: 5_000, perCaller: 2_000, perConnection: 2_000 }) {
  const own = {
    source: stockSource(tail),
    limits: new StreamLimits(caps),
    settings: { heartbeatMs: 300 },
  };
  const store = new CatalogStore(database.db);
  return serve({
    routes: catalogRoutes({ store, reservationTtlSeconds: 900, live: own }),
    files: [CatalogService.file],
    serviceNames: [CatalogService.typeName],
    authority,
    logger,
    metrics: createMetrics("test"),
    ready: async () => {},
    corsOrigins: [],
    maxMessageBytes: 1 << 20,
    host: "127.0.0.1",
    port: 0,
    limits: { maxOpenStreams: 10_000 },
  }).then((running) => ({ server: running, live: own }));
}

beforeAll(async () => {
  database = await openTestDatabase({ schema, migrationsFolder, poolMax: 20 });
  const store = new CatalogStore(database.db);
  for (const [i, stock] of [10, 20, 30].entries()) {
    const product = await store.products.create({
      name: `Product ${i}`,
      description: "",
      priceCents: 100,
      stock,
    });
    products.push(product.id);
  }
  tail = new OutboxTail({
    db: database.db,
    subjects: stockSubjects,
    intervalMs: 20,
    retentionMs: 60_000,
    logger,
  });
  tail.start();
  ({ server, live } = await startServerAt());
});

afterAll(async () => {
  await server?.close(1_000);
  await tail?.stop();
  await database?.close();
});

type Transport = ReturnType<typeof createGrpcTransport>;
const transports: Record<string, () => Transport> = {
  "gRPC over h2c": () => createGrpcTransport({ baseUrl: server.url }),
  "Connect over HTTP/1.1": () =>
    createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }),
  "gRPC-Web over HTTP/1.1": () =>
    createGrpcWebTransport({ baseUrl: server.url, httpVersion: "1.1" }),
};

/** Reads a stream's updates (heartbeats skipped) into `seen` until aborted. */
function reader(client: Client<typeof CatalogService>, ids: string[], cursor = "", options = {}) {
  const abort = new AbortController();
  const seen: { productId: string; stock: number; cursor: string }[] = [];
  let heartbeats = 0;
  const done = (async () => {
    for await (const res of client.watchStock(
      { productIds: ids, cursor },
      { signal: abort.signal, ...options },
    ) as AsyncIterable<WatchStockResponse>) {
      if (res.update) seen.push({ ...res.update });
      else heartbeats++;
    }
  })().catch((error: unknown) => {
    if (abort.signal.aborted) return undefined;
    return ConnectError.from(error);
  });
  return { seen, done, abort: () => abort.abort(), heartbeats: () => heartbeats };
}

/** A stock change through UpdateProduct on the server under test: the catalog records it. */
let adminClient: Client<typeof CatalogService> | undefined;
function changeStock(productId: string, stock: number): Promise<void> {
  adminClient ??= createClient(
    CatalogService,
    createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }),
  );
  return setStock(adminClient, authority, productId, stock);
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("WatchStock", () => {
  for (const [round, [name, transport]] of Object.entries(transports).entries()) {
    it(`streams the current stock, then each change, over ${name}`, async () => {
      const [a, b] = products as [string, string];
      const client = createClient(CatalogService, transport());
      const stream = reader(client, [a, b]);
      await until(() => stream.seen.length === 2);
      const start = new Map(stream.seen.map((u) => [u.productId, u.stock]));
      expect([...start.keys()]).toEqual([a, b]);
      // New stocks each round: setting a product's stock to what it is changes nothing.
      const [first, second, third] = [7, 8, 6].map((n) => n + 10 * round) as [
        number,
        number,
        number,
      ];
      await changeStock(a, first);
      await changeStock(b, second);
      await changeStock(a, third);
      await until(() => stream.seen.at(-1)?.stock === third);
      stream.abort();
      expect(await stream.done).toBeUndefined();
      const ofA = stream.seen.filter((u) => u.productId === a).map((u) => u.stock);
      expect(ofA.slice(1)).toEqual([first, third]);
      expect(
        stream.seen
          .filter((u) => u.productId === b)
          .map((u) => u.stock)
          .slice(1),
      ).toEqual([second]);
      // A cursor is a position in the outbox; the snapshot's states share one, so only its
      // last state's cursor resumes (an empty one starts afresh).
      const cursors = stream.seen.map((u) => u.cursor);
      expect(cursors[0]).toBe("");
      expect(cursors.slice(1).every((c) => c.startsWith("1."))).toBe(true);
    });
  }

  it("resumes from a cursor with what was missed, and afresh from a cursor it cannot use", async () => {
    const [a, b, c] = products as [string, string, string];
    const client = createClient(CatalogService, transports["gRPC over h2c"]?.() as Transport);
    const first = reader(client, [a, b, c]);
    await until(() => first.seen.length === 3);
    await changeStock(a, 100);
    await until(() => first.seen.length === 4);
    const last = first.seen.at(-1)?.cursor as string;
    first.abort();
    await first.done;
    // Missed while away: two changes of b, one of c; a unchanged. A reader that stays shows
    // when they are below the horizon (another suite's open transaction on this PostgreSQL can
    // hold it back): only then can a resume replay them rather than see them arrive live.
    const stayed = reader(client, [b, c]);
    await changeStock(b, 201);
    await changeStock(b, 202);
    await changeStock(c, 301);
    await until(() => stayed.seen.at(-1)?.stock === 301, 30_000);
    stayed.abort();
    const resumed = reader(client, [a, b, c], last);
    await until(() => resumed.seen.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(resumed.seen.map((u) => [u.productId, u.stock])).toEqual([
      [b, 202],
      [c, 301],
    ]);
    await changeStock(a, 101);
    await until(() => resumed.seen.length === 3);
    expect(resumed.seen.at(-1)).toMatchObject({ productId: a, stock: 101 });
    resumed.abort();
    // A cursor that is not ours (or too old) gets the current stock of each: no silent gap.
    const fresh = reader(client, [a, b, c], "1.zz.zz.1");
    await until(() => fresh.seen.length === 3);
    expect(fresh.seen.map((u) => u.stock)).toEqual([101, 202, 301]);
    fresh.abort();
  });

  it("resumes a reader that left after the first of the snapshot's states without losing the rest", async () => {
    const [a, b, c] = products as [string, string, string];
    const client = createClient(CatalogService, transports["gRPC over h2c"]?.() as Transport);
    const first = reader(client, [a, b, c]);
    await until(() => first.seen.length === 3);
    first.abort();
    // What a reader that kept only the first state would send back: it starts afresh.
    const resumed = reader(client, [a, b, c], first.seen[0]?.cursor);
    await until(() => resumed.seen.length === 3);
    resumed.abort();
    expect(resumed.seen.map((u) => u.productId)).toEqual([a, b, c]);
    // The last state's cursor resumes with nothing missed.
    const after = reader(client, [a, b, c], first.seen[2]?.cursor);
    await changeStock(b, (first.seen[1]?.stock ?? 0) + 1);
    await until(() => after.seen.length === 1);
    after.abort();
    expect(after.seen[0]).toMatchObject({ productId: b, stock: (first.seen[1]?.stock ?? 0) + 1 });
  });

  it("shows the stock an order's reservation takes and its release gives back", async () => {
    const [a, b] = products as [string, string];
    const client = createClient(CatalogService, transports["gRPC over h2c"]?.() as Transport);
    const stream = reader(client, [a, b]);
    await until(() => stream.seen.length === 2);
    const [stockA, stockB] = stream.seen.map((u) => u.stock) as [number, number];
    // As the order service calls them: with its own service identity.
    const asOrder = bearer(await authority.issueServiceToken("order"));
    const orderId = uuidv7();
    const items = [
      { productId: a, quantity: 2 },
      { productId: b, quantity: 3 },
    ];
    await client.reserveStock({ orderId, items }, asOrder);
    await until(() => stream.seen.length === 4);
    await client.releaseStock({ orderId }, asOrder);
    await until(() => stream.seen.length === 6);
    stream.abort();
    const of = (id: string) => stream.seen.filter((u) => u.productId === id).map((u) => u.stock);
    expect(of(a)).toEqual([stockA, stockA - 2, stockA]);
    expect(of(b)).toEqual([stockB, stockB - 3, stockB]);
  });

  it("refuses unknown products, no ids and too many ids", async () => {
    const client = createClient(CatalogService, transports["gRPC over h2c"]?.() as Transport);
    const unknown = reader(client, [products[0] as string, uuidv7()]);
    expect((await unknown.done)?.code).toBe(Code.NotFound);
    expect((await reader(client, []).done)?.code).toBe(Code.InvalidArgument);
    const many = Array.from({ length: 101 }, () => uuidv7());
    expect((await reader(client, many).done)?.code).toBe(Code.InvalidArgument);
    expect((await reader(client, ["not-a-uuid"]).done)?.code).toBe(Code.InvalidArgument);
  });

  it("sends heartbeats while nothing changes", async () => {
    const client = createClient(
      CatalogService,
      transports["Connect over HTTP/1.1"]?.() as Transport,
    );
    const stream = reader(client, [products[2] as string]);
    await until(() => stream.heartbeats() >= 2, 3_000);
    stream.abort();
  });

  it("ends with UNAUTHENTICATED when the caller's token expires", async () => {
    const client = createClient(CatalogService, transports["gRPC over h2c"]?.() as Transport);
    const { token } = await authority.issueUserToken(uuidv7(), "customer", 2);
    const started = Date.now();
    const stream = reader(client, [products[0] as string], "", bearer(token));
    const error = await stream.done;
    expect(error?.code).toBe(Code.Unauthenticated);
    expect(stream.seen.length).toBe(1);
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it("coalesces a slow reader's changes per product: the latest stock wins", async () => {
    const [a, b] = products as [string, string];
    const ctx = createHandlerContext({
      service: CatalogService,
      method: CatalogService.method.watchStock,
      protocolName: "test",
      requestMethod: "POST",
      url: "http://test/",
      requestSignal: new AbortController().signal,
    });
    ctx.values.set(kTokenExpiresAt, undefined);
    const stream = watchStates(live.source, [a, b], "", ctx, { heartbeatMs: 60_000 });
    const firsts = [(await stream.next()).value, (await stream.next()).value];
    expect(firsts.map((u) => u?.thingId)).toEqual([a, b]);
    // The reader takes nothing while 100 changes land.
    for (let i = 1; i <= 50; i++) {
      await changeStock(a, 1000 + i);
      await changeStock(b, 2000 + i);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const rest: { thingId: string; state: number }[] = [];
    while (!rest.some((u) => u.state === 2050)) {
      const { value } = await stream.next();
      if (value) rest.push(value);
    }
    await stream.return(undefined);
    // Far fewer than the 100 changes, each product's states rising, ending on the latest.
    expect(rest.length).toBeLessThanOrEqual(16);
    for (const [id, last] of [
      [a, 1050],
      [b, 2050],
    ] as const) {
      const states = rest.filter((u) => u.thingId === id).map((u) => u.state);
      expect(states).toEqual([...states].sort((x, y) => x - y));
      expect(states.at(-1)).toBe(last);
    }
    expect(tail.watchedThings).toBe(0);
  });

  it("leaves nothing behind when 1,000 clients vanish", async () => {
    const before = live.limits.open;
    const client = createClient(
      CatalogService,
      transports["Connect over HTTP/1.1"]?.() as Transport,
    );
    // Half over HTTP/1.1 (a socket each), half over ten HTTP/2 connections (50 streams each,
    // inside the 100 a connection may carry).
    const h2 = Array.from({ length: 10 }, () =>
      createClient(CatalogService, createGrpcTransport({ baseUrl: server.url })),
    );
    const streams = Array.from({ length: 1_000 }, (_, i) =>
      reader(i % 2 === 0 ? client : (h2[(i >> 1) % 10] as typeof client), [
        products[i % 3] as string,
      ]),
    );
    // Each stream's first answer is a snapshot transaction: slow when the machine is busy.
    await until(() => streams.every((s) => s.seen.length >= 1), 60_000);
    expect(live.limits.open).toBe(before + 1_000);
    expect(tail.watchedThings).toBe(3);
    for (const stream of streams) stream.abort();
    await until(() => live.limits.open === before && tail.watchedThings === 0, 10_000);
    // A change after they left reaches nobody and breaks nothing.
    await changeStock(products[0] as string, 5);
  }, 90_000);

  it("refuses streams past the caps with RESOURCE_EXHAUSTED", async () => {
    const { server: capped } = await startServerAt({
      perProcess: 100,
      perCaller: 3,
      perConnection: 100,
    });
    try {
      const client = createClient(CatalogService, createGrpcTransport({ baseUrl: capped.url }));
      const open = [1, 2, 3].map(() => reader(client, [products[0] as string]));
      await until(() => open.every((s) => s.seen.length === 1));
      const refused = reader(client, [products[0] as string]);
      const error = await refused.done;
      expect(error?.code).toBe(Code.ResourceExhausted);
      expect(error?.rawMessage).toContain("for this caller");
      for (const s of open) s.abort();
    } finally {
      await capped.close(500);
    }
  });

  it("ends open streams with UNAVAILABLE as soon as the server starts draining", async () => {
    const { server: draining } = await startServerAt();
    const client = createClient(CatalogService, createGrpcTransport({ baseUrl: draining.url }));
    const stream = reader(client, [products[1] as string]);
    await until(() => stream.seen.length === 1);
    const started = Date.now();
    await draining.close(10_000);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((await stream.done)?.code).toBe(Code.Unavailable);
  });
});
