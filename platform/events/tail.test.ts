// The outbox tail against a real PostgreSQL: rows of transactions that commit late are
// delivered, in position order, once; cursors resume exactly; old cursors start afresh.
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
import { createOutboxTable, insertOutboxRow, recordEvent } from "./tail-testing.js";

const subject = "bazaar.catalog.v1.StockChanged";
const logger = createLogger({ service: "test", level: "silent", pretty: false });
let database: DatabaseHandle<typeof schema>;
let tail: OutboxTail;

beforeAll(async () => {
  database = await openTestDatabase({ schema, migrationsFolder });
  await createOutboxTable(database.db);
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
    const stop = tail.watch(["late", "early"], (row) => seen.push(row));
    let commitLate!: () => void;
    const lateCommitted = database.db.transaction(async (tx) => {
      await insertOutboxRow(tx as never, { subject, thingId: "late", payload: bytes("L") });
      await new Promise<void>((resolve) => {
        commitLate = resolve;
      });
    });
    await until(() => commitLate !== undefined);
    await recordEvent(database.db, { subject, thingId: "early", payload: bytes("E") });
    // Several polls pass while the late transaction is open: its row has the lower id, and
    // the committed one must wait below the horizon too (it is above the open txid).
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(seen).toEqual([]);
    commitLate();
    await lateCommitted;
    await until(() => seen.length === 2);
    stop();
    expect(seen.map((row) => row.thingId)).toEqual(["late", "early"]);
    expect(seen[0]?.id).toBeLessThan(seen[1]?.id as bigint);
    expect(comparePositions(seen[0] as OutboxRow, seen[1] as OutboxRow)).toBe(-1);
  });

  it("delivers every row of many concurrent writers exactly once, in order per thing", async () => {
    const things = ["a", "b", "c", "d"];
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
    for (const thing of things) {
      const sequences = seen.filter((row) => row.thingId === thing).map((row) => row.sequence);
      expect(new Set(sequences).size).toBe(50);
      expect(Math.max(...sequences)).toBe(50);
    }
  });

  it("ignores other subjects and unwatched things", async () => {
    const seen: OutboxRow[] = [];
    const stop = tail.watch(["x"], (row) => seen.push(row));
    await recordEvent(database.db, {
      subject: "bazaar.catalog.v1.ProductCreated",
      thingId: "x",
      payload: bytes(""),
    });
    await recordEvent(database.db, { subject, thingId: "y", payload: bytes("") });
    await recordEvent(database.db, { subject, thingId: "x", payload: bytes("mine") });
    await until(() => seen.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    stop();
    expect(seen.map((row) => new TextDecoder().decode(row.payload))).toEqual(["mine"]);
    expect(tail.watchedThings).toBe(0);
  });

  it("reads a snapshot whose state and sequences agree, at a horizon", async () => {
    await recordEvent(database.db, { subject, thingId: "s", payload: bytes("1") });
    await recordEvent(database.db, { subject, thingId: "s", payload: bytes("2") });
    const snapshot = await tail.snapshot(["s", "none"], async (tx) => {
      const rows = (await tx.execute(
        sql`select count(*)::int as n from outbox where thing_id = 's'`,
      )) as unknown as { n: number }[];
      return rows[0]?.n;
    });
    expect(snapshot.state).toBe(2);
    expect(snapshot.sequences).toEqual(new Map([["s", 2]]));
    expect(snapshot.horizon).toBeGreaterThan(0n);
  });

  it("replays from a cursor the newest missed row per thing, newer than what was seen", async () => {
    const seen: OutboxRow[] = [];
    const stop = tail.watch(["r1", "r2"], (row) => seen.push(row));
    await recordEvent(database.db, { subject, thingId: "r1", payload: bytes("r1-1") });
    await until(() => seen.length === 1);
    const cursor = { txid: seen[0]?.txid as bigint, id: seen[0]?.id as bigint, timeMs: Date.now() };
    await recordEvent(database.db, { subject, thingId: "r1", payload: bytes("r1-2") });
    await recordEvent(database.db, { subject, thingId: "r2", payload: bytes("r2-1") });
    await recordEvent(database.db, { subject, thingId: "r1", payload: bytes("r1-3") });
    await until(() => seen.length === 4);
    stop();
    const replay = await tail.replay(["r1", "r2"], decodeCursor(encodeCursor(cursor)) as never);
    expect(replay?.rows.map((row) => new TextDecoder().decode(row.payload))).toEqual([
      "r2-1",
      "r1-3",
    ]);
    expect(replay?.sequences).toEqual(
      new Map([
        ["r1", 3],
        ["r2", 1],
      ]),
    );
    // Nothing missed after the last row: nothing to replay.
    const last = seen.at(-1) as OutboxRow;
    const none = await tail.replay(["r1", "r2"], {
      txid: last.txid,
      id: last.id,
      timeMs: Date.now(),
    });
    expect(none?.rows).toEqual([]);
  });

  it("answers undefined for a cursor older than the retention or from the future", async () => {
    const horizon = await tail.horizon();
    expect(
      await tail.replay(["r1"], { txid: horizon, id: 0n, timeMs: Date.now() - 120_000 }),
    ).toBeUndefined();
    expect(
      await tail.replay(["r1"], { txid: horizon + 1_000_000n, id: 0n, timeMs: Date.now() }),
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
