// Domain events, proven on real PostgreSQL and a real nats-server: every change records its
// event in the change's own transaction with the thing's next sequence number, and the relay
// puts each event on JetStream exactly once, in order per thing, through a relay killed -9 at
// random moments, a NATS outage under a burst of orders, and two relays on one database.
import { type ChildProcess, spawn } from "node:child_process";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StockChangedSchema } from "../gen/bazaar/catalog/v1/events_pb.js";
import { type DatabaseHandle, executeRows, openDatabase } from "../platform/data/database.js";
import { uuidv7 } from "../platform/data/ids.js";
import { decodeEvent } from "../platform/events/catalog.js";
import { connectNats, streamName } from "../platform/events/nats.js";
import { pruneOutbox } from "../platform/events/prune.js";
import { timestampField, varintField } from "../platform/events/record.js";
import { OutboxRelay, pendingEvents } from "../platform/events/relay.js";
import { natsServerMissing, readStream, TestNatsServer } from "../platform/events/testing.js";
import { createLogger } from "../platform/observability/logger.js";
import { createScratchDatabase, waitUntil } from "../platform/testing.js";
import { migrationsFolder as catalogMigrations } from "./catalog/config.js";
import * as catalogSchema from "./catalog/schema.js";
import { CatalogStore } from "./catalog/store.js";
import {
  adminAuth,
  customer,
  type OrderTestbed,
  openOrderTestbed,
  product,
} from "./order/testing.js";

// biome-ignore lint/suspicious/noExplicitAny: any service's database.
type AnyDb = DatabaseHandle<any>["db"];

const quiet = createLogger({ service: "events-test", level: "silent", pretty: false });

interface OutboxRow {
  event_id: string;
  subject: string;
  thing_id: string;
  sequence: number;
  payload: Uint8Array;
  published: boolean;
}

const outboxOf = (db: AnyDb) =>
  executeRows<OutboxRow>(
    db,
    sql`select event_id, subject, thing_id, sequence::int as sequence, payload,
      published_time is not null as published from outbox order by id`,
  );

const decoded = (row: OutboxRow) => decodeEvent(row.subject, row.payload);

/**
 * What JetStream holds is exactly the outbox: each event once (Nats-Msg-Id = event_id), and
 * each thing's events in stream order numbered 1, 2, 3…
 */
async function expectExactlyOnceInOrder(natsUrl: string, stream: string, db: AnyDb) {
  const stored = await readStream(natsUrl, stream);
  const events = stored.map((m) => ({ ...decodeEvent(m.subject, m.data), msgId: m.msgId }));
  for (const event of events) expect(event.msgId).toBe(event.eventId);
  const ids = events.map((e) => e.eventId);
  expect(new Set(ids).size).toBe(ids.length);
  const recorded = (await outboxOf(db)).map((row) => row.event_id);
  expect([...ids].sort()).toEqual([...recorded].sort());
  const last = new Map<string, number>();
  for (const event of events) {
    expect(event.sequence, `sequence of ${event.thingId}`).toBe((last.get(event.thingId) ?? 0) + 1);
    last.set(event.thingId, event.sequence);
  }
  return events;
}

describe("recording events with the change", () => {
  let bed: OrderTestbed;
  beforeAll(async () => {
    bed = await openOrderTestbed();
  });
  afterAll(() => bed?.close());

  it("appends protobuf varint fields in SQL exactly as protobuf encodes them", async () => {
    for (const value of [1, 127, 128, 300, 16_383, 16_384, 2 ** 31 - 1, 2 ** 53 - 1]) {
      const [row] = await executeRows<{ bytes: Uint8Array }>(
        bed.database.db,
        sql`select ${sql.raw(varintField(3, String(value)))} as bytes`,
      );
      const expected = toBinary(
        StockChangedSchema,
        create(StockChangedSchema, { sequence: BigInt(value) }),
      );
      expect(Buffer.from(row?.bytes ?? [])).toEqual(Buffer.from(expected));
    }
    // Zero, which proto3 leaves out, is written explicitly: a decoder reads it as zero.
    const [zero] = await executeRows<{ bytes: Uint8Array }>(
      bed.database.db,
      sql`select ${sql.raw(varintField(5, "0"))} as bytes`,
    );
    expect(Buffer.from(zero?.bytes ?? [])).toEqual(Buffer.from([0x28, 0x00]));
  });

  it("writes a Timestamp field in SQL exactly as protobuf encodes it, zero nanos included", async () => {
    for (const iso of [
      "2026-12-06T22:40:01.123456Z",
      "2026-12-06T22:40:01Z",
      "1970-01-01T00:00:00Z",
    ]) {
      const [row] = await executeRows<{ bytes: Uint8Array }>(
        bed.database.db,
        sql`select ${sql.raw(timestampField(2, `'${iso}'::timestamptz`))} as bytes`,
      );
      const decoded = fromBinary(StockChangedSchema, row?.bytes ?? new Uint8Array());
      const ms = Date.parse(iso);
      expect(decoded.occurTime?.seconds, iso).toBe(BigInt(Math.floor(ms / 1000)));
      expect(decoded.occurTime?.nanos, iso).toBe(iso.includes(".") ? 123_456_000 : 0);
    }
  });

  it("a reservation's StockChanged occurs when the stock is taken, not when the order asked", async () => {
    const admin = await adminAuth(bed.authority);
    const productId = await product(bed.catalog, admin, 500, 10);
    const serviceAuth = {
      headers: { authorization: `Bearer ${await bed.authority.serviceTokenSource("order")()}` },
    };
    const catalogDb = bed.peerDatabases.catalog.db;
    let asked = 0;
    let released = 0;
    let reserving: Promise<unknown> | undefined;
    // Another transaction holds the stock row while the reservation waits for it.
    await catalogDb.transaction(async (tx) => {
      await tx.execute(sql`select from product_stock where product_id = ${productId} for update`);
      asked = Date.now();
      reserving = bed.catalog.reserveStock(
        { orderId: uuidv7(), items: [{ productId, quantity: 1 }] },
        serviceAuth,
      );
      await new Promise((resolve) => setTimeout(resolve, 400));
      released = Date.now();
    });
    await reserving;
    const [row] = await executeRows<{ payload: Uint8Array; occur_us: string }>(
      catalogDb,
      sql`select payload, (extract(epoch from occur_time) * 1000000)::bigint::text as occur_us
        from outbox where thing_id = ${productId} and subject like '%StockChanged'`,
    );
    const event = fromBinary(StockChangedSchema, row?.payload ?? new Uint8Array());
    const payloadUs =
      (event.occurTime?.seconds ?? 0n) * 1_000_000n + BigInt((event.occurTime?.nanos ?? 0) / 1000);
    // The payload and the column tell the same instant, to the microsecond…
    expect(payloadUs).toBe(BigInt(row?.occur_us ?? "0"));
    // …and it is after the lock was let go (a few ms of clock skew between Node and PostgreSQL
    // allowed), where the draft's own time would be before the wait.
    expect(Number(payloadUs / 1000n)).toBeGreaterThanOrEqual(released - 20);
    expect(released - asked).toBeGreaterThanOrEqual(390);
  });

  it("numbers a product's events 1, 2, 3… across ProductCreated, StockChanged and ProductUpdated", async () => {
    const admin = await adminAuth(bed.authority);
    const productId = await product(bed.catalog, admin, 500, 10);
    const orderId = uuidv7();
    const serviceAuth = {
      headers: { authorization: `Bearer ${await bed.authority.serviceTokenSource("order")()}` },
    };
    await bed.catalog.reserveStock({ orderId, items: [{ productId, quantity: 2 }] }, serviceAuth);
    // Refused (too few): no change, no event.
    await bed.catalog
      .reserveStock({ orderId: uuidv7(), items: [{ productId, quantity: 99 }] }, serviceAuth)
      .catch(() => {});
    await bed.catalog.releaseStock({ orderId }, serviceAuth);
    await bed.catalog.updateProduct({ id: productId, name: "Renamed", stock: 15 }, admin);

    const events = (await outboxOf(bed.peerDatabases.catalog.db))
      .filter((row) => row.thing_id === productId)
      .map((row) => ({ row, event: decoded(row) }));
    expect(events.map(({ row }) => [row.subject.split(".").at(-1), row.sequence])).toEqual([
      ["ProductCreated", 1],
      ["StockChanged", 2],
      ["StockChanged", 3],
      ["ProductUpdated", 4],
      ["StockChanged", 5],
    ]);
    for (const { row, event } of events) expect(event.sequence).toBe(row.sequence);
    expect(events.map(({ event }) => event.json)).toMatchObject([
      { productId, product: { id: productId, stock: 10 } },
      { productId, stock: 8, delta: -2, orderId },
      { productId, stock: 10, delta: 2, orderId },
      { productId, product: { name: "Renamed", stock: 15 } },
      { productId, stock: 15, delta: 5 },
    ]);
  });

  it("records OrderPlaced with the order as placed, and accounts without any secret", async () => {
    const admin = await adminAuth(bed.authority);
    const productId = await product(bed.catalog, admin, 250, 5);
    const buyer = await customer(bed.accounts, bed.authority);
    const { order } = await bed.orders.createOrder(
      { items: [{ productId, quantity: 2 }] },
      buyer.auth,
    );
    const [placed] = (await outboxOf(bed.database.db)).filter((r) => r.thing_id === order?.id);
    expect(placed?.subject).toBe("bazaar.order.v1.OrderPlaced");
    expect(placed?.sequence).toBe(1);
    expect(placed && decoded(placed).json).toMatchObject({
      orderId: order?.id,
      sequence: "1",
      order: { id: order?.id, accountId: buyer.id, totalCents: "500", items: [{ quantity: 2 }] },
    });

    await bed.accounts.updateAccount(
      {
        id: buyer.id,
        name: "Renamed",
        newPassword: "another long password",
        currentPassword: "correct horse battery",
      },
      buyer.auth,
    );
    const accountEvents = (await outboxOf(bed.peerDatabases.account.db)).filter(
      (r) => r.thing_id === buyer.id,
    );
    expect(accountEvents.map((r) => [r.subject, r.sequence])).toEqual([
      ["bazaar.account.v1.AccountCreated", 1],
      ["bazaar.account.v1.AccountUpdated", 2],
    ]);
    const [hash] = await executeRows<{ password_hash: string }>(
      bed.peerDatabases.account.db,
      sql`select password_hash from accounts where id = ${buyer.id}`,
    );
    for (const row of accountEvents) {
      const text = Buffer.from(row.payload).toString("latin1");
      expect(text).not.toContain(hash?.password_hash ?? "?");
      expect(text).not.toContain("another long password");
      expect(Object.keys((decoded(row).json as { account: object }).account).sort()).toEqual(
        ["createTime", "email", "id", "name", "role"].sort(),
      );
    }
  });
  it("prunes after the retention window: published rows, or all without NATS; never unread ones", async () => {
    const db = bed.peerDatabases.catalog.db;
    const count = async () =>
      (await executeRows<{ n: number }>(db, sql`select count(*)::int as n from outbox`))[0]?.n;
    const later = new Date(Date.now() + 48 * 3_600_000);
    const total = await count();
    expect(total).toBeGreaterThan(1);
    const [first] = await executeRows<{ id: number }>(
      db,
      sql`select min(id)::int as id from outbox`,
    );
    await executeRows(db, sql`update outbox set published_time = now() where id = ${first?.id}`);
    // Published with NATS: only the one published row goes.
    expect(await pruneOutbox(db, { retentionHours: 24, publishing: true, now: later })).toBe(1);
    // A reader whose cursor is behind keeps every row it has not passed.
    await executeRows(
      db,
      sql`insert into outbox_cursors (consumer, txid, id) values ('test', '1'::xid8, 0)`,
    );
    expect(await pruneOutbox(db, { retentionHours: 24, publishing: false, now: later })).toBe(0);
    await executeRows(db, sql`delete from outbox_cursors where consumer = 'test'`);
    // Nothing is younger than the window: nothing goes.
    expect(await pruneOutbox(db, { retentionHours: 24, publishing: false })).toBe(0);
    // Without NATS, everything past the window goes.
    expect(await pruneOutbox(db, { retentionHours: 24, publishing: false, now: later })).toBe(
      (total ?? 0) - 1,
    );
  });
});

const skipNats = natsServerMissing();
if (skipNats) console.warn(skipNats);

describe.skipIf(skipNats !== undefined)("relaying to JetStream", () => {
  let nats: TestNatsServer;
  beforeAll(async () => {
    nats = await TestNatsServer.start();
  });
  afterAll(() => nats?.stop());

  /** A fresh catalog database whose store makes events, and a way to drop it. */
  async function catalogDatabase() {
    const scratch = await createScratchDatabase();
    const database = await openDatabase({
      url: scratch.url,
      schema: catalogSchema,
      migrationsFolder: catalogMigrations,
    });
    return {
      url: scratch.url,
      db: database.db,
      store: new CatalogStore(database.db),
      close: async () => {
        await database.close();
        await scratch.drop();
      },
    };
  }

  /** Reserves and releases at random over `products` until `stop()`; every change an event. */
  function traffic(store: CatalogStore, products: string[]) {
    let running = true;
    const done = (async () => {
      let made = 0;
      while (running) {
        const orderId = uuidv7();
        const productId = products[made % products.length] ?? "";
        await store.reservations.reserve(orderId, [{ productId, quantity: 1 }], 600);
        if (Math.random() < 0.5) await store.reservations.releaseStock(orderId);
        made++;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      return made;
    })();
    return {
      stop: async () => {
        running = false;
        return done;
      },
    };
  }

  const relayFor = (db: AnyDb, service: "catalog" | "order", natsUrl: string) =>
    new OutboxRelay({
      service,
      db,
      natsUrl,
      logger: quiet,
      intervalMs: 20,
      batchSize: 50,
      publishTimeoutMs: 1_000,
      minBackoffMs: 50,
      maxBackoffMs: 1_000,
    });

  const drained = (db: AnyDb) =>
    waitUntil("the outbox drained", async () => (await pendingEvents(db)).count === 0, {
      timeoutMs: 60_000,
    });

  it("a publish whose row was never marked (the publisher died right then) is stored once", async () => {
    const database = await catalogDatabase();
    const url = nats.url;
    try {
      await aProductIn(database.store, 3);
      // What a relay killed between JetStream's ack and its UPDATE left behind.
      const rows = await outboxOf(database.db);
      const connection = await connectNats(url, { name: "dying-relay" });
      const relay = relayFor(database.db, "catalog", url);
      await relay.runOnce(); // creates the stream; publishes and marks
      await executeRows(database.db, sql`update outbox set published_time = null`);
      const js = jetstream(connection);
      const acks = await Promise.all(
        rows.map((row) => js.publish(row.subject, row.payload, { msgID: row.event_id })),
      );
      expect(acks.every((ack) => ack.duplicate)).toBe(true);
      await connection.close();
      await relay.runOnce();
      await relay.stop();
      await expectExactlyOnceInOrder(url, streamName("catalog"), database.db);
    } finally {
      await database.close();
    }
  });

  it("a relay process killed -9 at random moments, again and again: each event once, in order", async () => {
    const database = await catalogDatabase();
    const stream = streamName("catalog");
    // A clean stream for this database's events.
    await purge(nats.url, stream);
    try {
      const products = await Promise.all(
        Array.from({ length: 4 }, () => aProductIn(database.store, 1_000_000)),
      );
      const load = traffic(database.store, products);
      let windowHits = 0;
      let rounds = 0;
      let stored = 0;
      while (rounds < 15 && !(rounds >= 6 && windowHits >= 2)) {
        rounds++;
        const child = relayProcess(database.url, nats.url);
        await waitForLine(child, "relaying");
        await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 1_000));
        const exited = new Promise((resolve) => child.once("exit", resolve));
        expect(child.exitCode, "the relay process ended before it was killed").toBeNull();
        child.kill("SIGKILL");
        await exited;
        // This relay stored events whose rows it never marked: killed between ack and UPDATE.
        const [marked] = await executeRows<{ n: number }>(
          database.db,
          sql`select count(*)::int as n from outbox where published_time is not null`,
        );
        const now = await streamCount(nats.url, stream);
        if (now > stored && now > (marked?.n ?? 0)) windowHits++;
        stored = now;
      }
      const made = await load.stop();
      const last = relayProcess(database.url, nats.url);
      try {
        await drained(database.db);
      } finally {
        last.kill("SIGKILL");
      }
      const events = await expectExactlyOnceInOrder(nats.url, stream, database.db);
      console.info(
        `kill -9 loop: ${rounds} kills, ${windowHits} between an ack and its mark, ${made} orders, ${events.length} events`,
      );
      expect(windowHits).toBeGreaterThan(0);
      expect(events.length).toBeGreaterThan(made);
    } finally {
      await database.close();
    }
  }, 240_000);

  it("two relays on one database: none skipped, none twice, order per thing kept", async () => {
    const database = await catalogDatabase();
    const stream = streamName("catalog");
    await purge(nats.url, stream);
    try {
      const products = await Promise.all(
        Array.from({ length: 3 }, () => aProductIn(database.store, 1_000_000)),
      );
      const relays = [1, 2].map(() => relayFor(database.db, "catalog", nats.url));
      for (const relay of relays) relay.start();
      const load = traffic(database.store, products);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      await load.stop();
      await drained(database.db);
      await Promise.all(relays.map((relay) => relay.stop()));
      await expectExactlyOnceInOrder(nats.url, stream, database.db);
    } finally {
      await database.close();
    }
  }, 60_000);

  describe("NATS down for 30 s under a burst of orders", () => {
    let bed: OrderTestbed;
    beforeAll(async () => {
      bed = await openOrderTestbed();
    });
    afterAll(() => bed?.close());

    it("no order fails or waits on NATS; afterwards every event arrives, in order per thing", async () => {
      await purge(nats.url, streamName("catalog"));
      await purge(nats.url, streamName("order"));
      const relays = [
        relayFor(bed.database.db, "order", nats.url),
        relayFor(bed.peerDatabases.catalog.db, "catalog", nats.url),
      ];
      for (const relay of relays) relay.start();
      const admin = await adminAuth(bed.authority);
      const products = await Promise.all(
        [1, 2, 3].map(() => product(bed.catalog, admin, 100, 100_000)),
      );
      const buyers = await Promise.all(
        [1, 2, 3, 4].map(() => customer(bed.accounts, bed.authority)),
      );
      await nats.pause();
      const outageEnds = Date.now() + 30_000;
      let placed = 0;
      let slowest = 0;
      await Promise.all(
        buyers.map(async (buyer, b) => {
          for (let i = 0; Date.now() < outageEnds; i++) {
            const started = Date.now();
            const { order } = await bed.orders.createOrder(
              {
                items: [
                  { productId: products[(b + i) % 3] ?? "", quantity: 1 },
                  { productId: products[(b + i + 1) % 3] ?? "", quantity: 2 },
                ],
              },
              buyer.auth,
            );
            expect(order?.id).toBeTruthy();
            slowest = Math.max(slowest, Date.now() - started);
            placed++;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }),
      );
      expect((await pendingEvents(bed.database.db)).count).toBeGreaterThanOrEqual(placed);
      await nats.resume();
      await drained(bed.database.db);
      await drained(bed.peerDatabases.catalog.db);
      await Promise.all(relays.map((relay) => relay.stop()));
      const orders = await expectExactlyOnceInOrder(nats.url, streamName("order"), bed.database.db);
      await expectExactlyOnceInOrder(nats.url, streamName("catalog"), bed.peerDatabases.catalog.db);
      console.info(`NATS outage: ${placed} orders placed in 30 s, slowest ${slowest} ms`);
      expect(orders.length).toBe(placed);
      // Placing an order never waited for NATS (its relay's publish timeout is 1 s).
      expect(slowest).toBeLessThan(1_000);
    }, 120_000);
  });
});

async function aProductIn(store: CatalogStore, stock: number): Promise<string> {
  const created = await store.products.create({
    name: `Evented ${uuidv7()}`,
    description: "",
    priceCents: 100,
    stock,
  });
  return created.id;
}

function relayProcess(databaseUrl: string, natsUrl: string): ChildProcess {
  return spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      new URL("../platform/events/relay-process.ts", import.meta.url).pathname,
      "catalog",
    ],
    {
      env: {
        ...process.env,
        DATABASE_URL: databaseUrl,
        NATS_URL: natsUrl,
        RELAY_BATCH_SIZE: "20",
        // Widens the window between an ack and its mark, so that kills land in it.
        RELAY_PAUSE_BEFORE_MARK_MS: "50",
      },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
}

function waitForLine(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk;
      if (output.includes(line)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`relay exited (${code}) before "${line}"`)));
  });
}

async function streamCount(url: string, stream: string): Promise<number> {
  const connection = await connectNats(url, { name: "events-test" });
  try {
    const info = await (await jetstreamManager(connection)).streams
      .info(stream)
      .catch(() => undefined);
    return info?.state.messages ?? 0;
  } finally {
    await connection.close();
  }
}

async function purge(url: string, stream: string): Promise<void> {
  const connection = await connectNats(url, { name: "events-test" });
  try {
    await (await jetstreamManager(connection)).streams.purge(stream).catch(() => {});
  } finally {
    await connection.close();
  }
}
