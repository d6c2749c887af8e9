// The outbox tail against a real PostgreSQL: rows of transactions that commit late are
// delivered, in position order, once; cursors resume exactly; old cursors start afresh.
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrationsFolder } from "../../services/catalog/config.js";
import * as schema from "../../services/catalog/schema.js";
import type { DatabaseHandle } from "../data/database.js";
import { createLogger } from "../observability/logger.js";
import { openTestDatabase } from "../testing.js";
import {
  comparePositions,
  decodeCursor,
  encodeCursor,
  type OutboxRow,
  OutboxTail,
} from "./tail.js";
import { insertOutboxRow, recordEvent } from "./tail-testing.js";

const subject = "bazaar.catalog.v1.StockChanged";
const logger = createLogger({ service: "test", level: "silent", pretty: false });
let database: DatabaseHandle<typeof schema>;
let tail: OutboxTail;

beforeAll(async () => {
  database = await openTestDatabase({ schema, migrationsFolder });
  tail = new OutboxTail({
    db: database.db,
    subjects: [subject],
    intervalMs: 20,
    retentionMs: 60_000,
    logger,
  });
  await tail.ready();
});

afterAll(async () => {
  await tail?.stop();
  await database?.close();
});

const bytes = (text: string) => new TextEncoder().encode(text);

// The outbox's thing_id is a UUID: each name a test uses stands for one, made on first use.
const thingIds = new Map<string, string>();
function thing(name: string): string {
  const id = thingIds.get(name) ?? randomUUID();
  thingIds.set(name, id);
  return id;
}
const names = (rows: OutboxRow[]) =>
  rows.map((row) => [...thingIds].find(([, id]) => id === row.thingId)?.[0]);

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("OutboxTail", () => {
  it("delivers a row whose transaction commits after a higher id was read", async () => {
    const seen: OutboxRow[] = [];
    const stop = tail.watch([thing("late"), thing("early")], (row) => seen.push(row));
    let commitLate!: () => void;
    const lateCommitted = database.db.transaction(async (tx) => {
      await insertOutboxRow(tx as never, { subject, thingId: thing("late"), payload: bytes("L") });
      await new Promise<void>((resolve) => {
        commitLate = resolve;
      });
    });
    await until(() => commitLate !== undefined);
    await recordEvent(database.db, { subject, thingId: thing("early"), payload: bytes("E") });
    // Several polls pass while the late transaction is open: its row has the lower id, and
    // the committed one must wait below the horizon too (it is above the open txid).
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(seen).toEqual([]);
    commitLate();
    await lateCommitted;
    await until(() => seen.length === 2);
    stop();
    expect(names(seen)).toEqual(["late", "early"]);
    expect(seen[0]?.id).toBeLessThan(seen[1]?.id as bigint);
    expect(comparePositions(seen[0] as OutboxRow, seen[1] as OutboxRow)).toBe(-1);
  });

  it("delivers every row of many concurrent writers exactly once, in order per thing", async () => {
    const things = ["a", "b", "c", "d"].map(thing);
    const seen: OutboxRow[] = [];
    const stop = tail.watch(things, (row) => seen.push(row));
    const writes = Array.from({ length: 200 }, (_, i) =>
      recordEvent(database.db, {
        subject,
        thingId: things[i % things.length] as string,
        payload: bytes(String(i)),
      }),
    );
    await Promise.all(writes);
    await until(() => seen.length === 200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    stop();
    expect(seen).toHaveLength(200);
    expect(new Set(seen.map((row) => row.id)).size).toBe(200);
    const sorted = [...seen].sort(comparePositions);
    expect(seen).toEqual(sorted);
    for (const id of things) {
      const sequences = seen.filter((row) => row.thingId === id).map((row) => row.sequence);
      expect(new Set(sequences).size).toBe(50);
      expect(Math.max(...sequences)).toBe(50);
    }
  });

  it("ignores other subjects and unwatched things", async () => {
    const seen: OutboxRow[] = [];
    const stop = tail.watch([thing("x")], (row) => seen.push(row));
    await recordEvent(database.db, {
      subject: "bazaar.catalog.v1.ProductCreated",
      thingId: thing("x"),
      payload: bytes(""),
    });
    await recordEvent(database.db, { subject, thingId: thing("y"), payload: bytes("") });
    await recordEvent(database.db, { subject, thingId: thing("x"), payload: bytes("mine") });
    await until(() => seen.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    stop();
    expect(seen.map((row) => new TextDecoder().decode(row.payload))).toEqual(["mine"]);
    expect(tail.watchedThings).toBe(0);
  });

  it("reads a snapshot whose state and sequences agree, at a horizon", async () => {
    await recordEvent(database.db, { subject, thingId: thing("s"), payload: bytes("1") });
    await recordEvent(database.db, { subject, thingId: thing("s"), payload: bytes("2") });
    const snapshot = await tail.snapshot([thing("s"), thing("none")], async (tx) => {
      const rows = (await tx.execute(
        sql`select count(*)::int as n from outbox where thing_id = ${thing("s")}`,
      )) as unknown as { n: number }[];
      return rows[0]?.n;
    });
    expect(snapshot.state).toBe(2);
    expect(snapshot.sequences).toEqual(new Map([[thing("s"), 2]]));
    expect(snapshot.horizon).toBeGreaterThan(0n);
  });

  it("replays from a cursor the newest missed row per thing, newer than what was seen", async () => {
    const seen: OutboxRow[] = [];
    const stop = tail.watch([thing("r1"), thing("r2")], (row) => seen.push(row));
    await recordEvent(database.db, { subject, thingId: thing("r1"), payload: bytes("r1-1") });
    await until(() => seen.length === 1);
    const cursor = { txid: seen[0]?.txid as bigint, id: seen[0]?.id as bigint, timeMs: Date.now() };
    await recordEvent(database.db, { subject, thingId: thing("r1"), payload: bytes("r1-2") });
    await recordEvent(database.db, { subject, thingId: thing("r2"), payload: bytes("r2-1") });
    await recordEvent(database.db, { subject, thingId: thing("r1"), payload: bytes("r1-3") });
    await until(() => seen.length === 4);
    stop();
    const replay = await tail.replay(
      [thing("r1"), thing("r2")],
      decodeCursor(encodeCursor(cursor)) as never,
    );
    expect(replay?.rows.map((row) => new TextDecoder().decode(row.payload))).toEqual([
      "r2-1",
      "r1-3",
    ]);
    // What the reader had at the cursor: r1's first event, nothing of r2. Every replayed row is
    // above it (a reader that seeded its running maximum past the rows would drop them all)…
    expect(replay?.seen).toEqual(new Map([[thing("r1"), 1]]));
    // …and taking them leaves the reader where a reader that never left would be.
    const reader = new Map(replay?.seen);
    for (const row of replay?.rows ?? []) {
      expect(row.sequence).toBeGreaterThan(reader.get(row.thingId) ?? 0);
      reader.set(row.thingId, row.sequence);
    }
    expect(reader).toEqual(
      new Map([
        [thing("r1"), 3],
        [thing("r2"), 1],
      ]),
    );
    // Nothing missed after the last row: nothing to replay.
    const last = seen.at(-1) as OutboxRow;
    const none = await tail.replay([thing("r1"), thing("r2")], {
      txid: last.txid,
      id: last.id,
      timeMs: Date.now(),
    });
    expect(none?.rows).toEqual([]);
  });

  it("replays a thing's newest row once its sequences pass 9 (numbers, not their text)", async () => {
    const seen: OutboxRow[] = [];
    const stop = tail.watch([thing("many")], (row) => seen.push(row));
    await recordEvent(database.db, { subject, thingId: thing("many"), payload: bytes("1") });
    await until(() => seen.length === 1);
    const [first] = seen as [OutboxRow];
    for (let i = 2; i <= 12; i++) {
      await recordEvent(database.db, { subject, thingId: thing("many"), payload: bytes(`${i}`) });
    }
    await until(() => seen.length === 12);
    stop();
    const replay = await tail.replay([thing("many")], { ...first, timeMs: Date.now() });
    expect(replay?.rows.map((row) => row.sequence)).toEqual([12]);
  });

  it("reads a band in pages across an id's digit boundary, skipping nothing", async () => {
    // One transaction's rows share a txid, so pages within it are cut by id: 9991 … 10010.
    const paged = new OutboxTail({
      db: database.db,
      subjects: [subject],
      intervalMs: 20,
      retentionMs: 60_000,
      batchSize: 4,
      logger,
    });
    await paged.ready();
    const seen: OutboxRow[] = [];
    const stop = paged.watch([thing("paged")], (row) => seen.push(row));
    try {
      await database.db.execute(sql`select setval('outbox_id_seq', 9990)`);
      await database.db.transaction(async (tx) => {
        for (let i = 1; i <= 20; i++) {
          await insertOutboxRow(tx as never, {
            subject,
            thingId: thing("paged"),
            payload: bytes(`${i}`),
          });
        }
      });
      await until(() => paged.stats.rows >= 20 && seen.length >= 20);
      expect(seen.map((row) => Number(row.id))).toEqual(
        Array.from({ length: 20 }, (_, i) => 9991 + i),
      );
    } finally {
      stop();
      await paged.stop();
    }
  });

  it("answers undefined for a cursor older than the retention or from the future", async () => {
    const horizon = await tail.horizon();
    expect(
      await tail.replay([thing("r1")], { txid: horizon, id: 0n, timeMs: Date.now() - 120_000 }),
    ).toBeUndefined();
    expect(
      await tail.replay([thing("r1")], { txid: horizon + 1_000_000n, id: 0n, timeMs: Date.now() }),
    ).toBeUndefined();
  });

  it("round-trips cursors and refuses anything else", () => {
    const cursor = { txid: 123_456_789n, id: 42n, timeMs: 1_765_000_000_000 };
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    expect(decodeCursor("")).toBeUndefined();
    expect(decodeCursor("2.a.b.c")).toBeUndefined();
    expect(decodeCursor("1.a.b")).toBeUndefined();
  });
});
