// Reads a service's outbox for its live streams: one poller per process and database, shared by
// every stream, reading only below the safe horizon so that no committed row is ever skipped.
//
// Why a horizon: ids (bigserial) are taken when a row is inserted, not when its transaction
// commits, so "rows with id > the last one seen" skips a row whose transaction commits after a
// higher id was read. `pg_snapshot_xmin(pg_current_snapshot())` is the oldest transaction still
// running: every transaction below it has finished, so the rows with `txid` below it are final
// and a band [previous horizon, horizon) is read exactly once. LISTEN/NOTIFY would tell us sooner
// but takes a database-wide lock at commit, serializing the order path; a 50 ms poll does not.
//
// Rows are delivered in position order, (txid, id): bands are disjoint and rising, so this order
// is total and the same for every reader. A thing's events may straddle two bands out of their
// sequence order (a later event of a lower txid), so each reader keeps, per thing, the highest
// sequence it has delivered and skips anything not above it. Because that is a running maximum
// over position order, a cursor (a position) is all a reader needs to resume exactly.
// Over 300 lines on purpose: the horizon, the poll, the snapshot and the replay must agree on
// one notion of position; they are kept side by side.
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../data/database.js";
import type { Logger } from "../observability/logger.js";
import type { Worker } from "../worker.js";

/** One outbox row, as the tail reads it (the columns of platform/events' `outbox` table). */
export interface OutboxRow {
  id: bigint;
  subject: string;
  thingId: string;
  sequence: number;
  payload: Uint8Array;
  txid: bigint;
}

/** A place in the outbox's delivery order: after the row (txid, id); id 0 = before all of txid. */
export interface Position {
  txid: bigint;
  id: bigint;
}

/** What a stream sends back to resume: a position and when it was handed out. */
export interface Cursor extends Position {
  timeMs: number;
}

export function comparePositions(a: Position, b: Position): number {
  if (a.txid !== b.txid) return a.txid < b.txid ? -1 : 1;
  return a.id === b.id ? 0 : a.id < b.id ? -1 : 1;
}

const cursorVersion = "1";

/** Opaque to clients: `1.<txid>.<id>.<ms>`, base 36. */
export function encodeCursor(cursor: Cursor): string {
  return [
    cursorVersion,
    cursor.txid.toString(36),
    cursor.id.toString(36),
    cursor.timeMs.toString(36),
  ].join(".");
}

/** The cursor a client sent, or undefined when it is not one of ours (a fresh start then). */
export function decodeCursor(text: string): Cursor | undefined {
  const match = /^1\.([0-9a-z]{1,13})\.([0-9a-z]{1,13})\.([0-9a-z]{1,11})$/.exec(text);
  if (!match) return undefined;
  const [, txid = "", id = "", ms = ""] = match;
  const fromBase36 = (digits: string) =>
    [...digits].reduce((n, d) => n * 36n + BigInt(Number.parseInt(d, 36)), 0n);
  const timeMs = Number(fromBase36(ms));
  return { txid: fromBase36(txid), id: fromBase36(id), timeMs };
}

export interface OutboxTailOptions {
  // biome-ignore lint/suspicious/noExplicitAny: any service's schema; the tail reads only `outbox`.
  db: Database<any>;
  /** The subjects the streams care about; other rows are never read. */
  subjects: readonly string[];
  /** Time between polls (LIVE_POLL_INTERVAL_MS); the added latency is about half of it. */
  intervalMs: number;
  /** How long the outbox keeps rows: older cursors get a fresh snapshot instead of a replay. */
  retentionMs: number;
  /** Rows read per query; a longer band is read in several, at once. */
  batchSize?: number;
  logger: Logger;
}

export type RowListener = (row: OutboxRow) => void;

/** A consistent read: the horizon, each thing's last sequence, and whatever `read` returns. */
export interface Snapshot<T> {
  horizon: bigint;
  sequences: Map<string, number>;
  state: T;
}

/** The poller: `watch` registers interest in things; every poll hands each listener its rows. */
export class OutboxTail implements Worker {
  readonly #options: Required<OutboxTailOptions>;
  readonly #listeners = new Map<string, Set<RowListener>>();
  #after: Position | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #stopped = false;
  #started: Promise<void> | undefined;
  #lastWarningMs = 0;
  /** For /metrics and the measurements in docs/live.md. */
  readonly stats = { polls: 0, rows: 0, pollSeconds: 0, lastHorizon: 0n };

  constructor(options: OutboxTailOptions) {
    this.#options = { batchSize: 1_000, ...options };
  }

  /** Starts polling from the current horizon (nothing before it is delivered live). */
  start(): void {
    this.#started ??= (async () => {
      const horizon = await this.horizon();
      this.#after ??= { txid: horizon, id: 0n };
      this.#schedule(0);
    })().catch((error: unknown) => {
      this.#options.logger.error({ err: error }, "outbox tail could not start");
      this.#started = undefined;
      if (!this.#stopped) setTimeout(() => this.start(), this.#options.intervalMs).unref();
    });
  }

  /** Resolves once the tail has its starting point: streams wait for it before a snapshot. */
  async ready(): Promise<void> {
    this.start();
    while (this.#after === undefined) {
      if (this.#stopped) throw new Error("the outbox tail is stopped");
      await (this.#started ?? new Promise((resolve) => setTimeout(resolve, 50)));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** Delivers every later row of these things to `listener`, in position order, until undone. */
  watch(thingIds: readonly string[], listener: RowListener): () => void {
    for (const id of thingIds) {
      const set = this.#listeners.get(id) ?? new Set<RowListener>();
      this.#listeners.set(id, set);
      set.add(listener);
    }
    return () => {
      for (const id of thingIds) {
        const set = this.#listeners.get(id);
        set?.delete(listener);
        if (set?.size === 0) this.#listeners.delete(id);
      }
    };
  }

  /** How many things have a listener (what the leak tests look at). */
  get watchedThings(): number {
    return this.#listeners.size;
  }

  async horizon(): Promise<bigint> {
    const rows = await select<{ horizon: string }>(
      this.#options.db,
      sql`select pg_snapshot_xmin(pg_current_snapshot())::text as horizon`,
    );
    return BigInt(rows[0]?.horizon ?? "0");
  }

  /**
   * Reads `read`'s state, each thing's last sequence and the horizon in one snapshot (a
   * repeatable-read, read-only transaction), so the state and the sequences agree.
   */
  async snapshot<T>(
    thingIds: readonly string[],
    read: (tx: Database<Record<string, unknown>>) => Promise<T>,
  ): Promise<Snapshot<T>> {
    return this.#options.db.transaction(
      async (tx) => {
        const rows = await select<{ horizon: string; thing_id: string | null; seq: string }>(
          tx,
          sql`select pg_snapshot_xmin(pg_current_snapshot())::text as horizon, s.thing_id, s.seq
              from (select 1) one left join lateral (
                select thing_id, max(sequence)::text as seq from outbox
                where thing_id in ${list(thingIds)} group by thing_id) s on true`,
        );
        const sequences = new Map<string, number>();
        for (const row of rows) if (row.thing_id) sequences.set(row.thing_id, Number(row.seq));
        const state = await read(tx as unknown as Database<Record<string, unknown>>);
        return { horizon: BigInt(rows[0]?.horizon ?? "0"), sequences, state };
      },
      { isolationLevel: "repeatable read", accessMode: "read only" },
    );
  }

  /**
   * What a reader resuming from `cursor` missed, below the current horizon: per thing only its
   * newest row (these are states, so the newest is what the reader would end up with), and
   * only if it is newer than what the reader had. `seen` is what the reader had: each thing's
   * last sequence at the cursor, *before* these rows (a reader seeds its running maximum with it
   * and then takes the rows, which are all above it). `undefined` when the cursor is older than
   * the outbox keeps (or not one this database handed out): the caller starts afresh.
   */
  async replay(
    thingIds: readonly string[],
    cursor: Cursor,
  ): Promise<{ rows: OutboxRow[]; seen: Map<string, number> } | undefined> {
    if (Date.now() - cursor.timeMs > this.#options.retentionMs) return undefined;
    const horizon = await this.horizon();
    if (cursor.txid > horizon) return undefined;
    const from = sql`(${cursor.txid.toString()}::xid8, ${cursor.id.toString()}::bigint)`;
    const subjects = list(this.#options.subjects);
    // Rows at or before the cursor are final (below a horizon seen earlier): the reader's
    // last sequences, exactly as its stream had them.
    const atCursor = await select<{ thing_id: string; seq: string }>(
      this.#options.db,
      sql`select thing_id, max(sequence)::text as seq from outbox
          where thing_id in ${list(thingIds)} and subject in ${subjects} and (txid, id) <= ${from}
          group by thing_id`,
    );
    const seen = new Map(atCursor.map((row) => [row.thing_id, Number(row.seq)] as const));
    const newest = await select<RawRow>(
      this.#options.db,
      sql`select distinct on (thing_id) ${rowColumns} from outbox
          where thing_id in ${list(thingIds)} and subject in ${subjects}
            and (txid, id) > ${from} and txid < ${horizon.toString()}::xid8
          order by outbox.thing_id, outbox.sequence desc`,
    );
    const rows = newest
      .map(toRow)
      .filter((row) => row.sequence > (seen.get(row.thingId) ?? 0))
      .sort(comparePositions);
    return { rows, seen };
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#poll().then(
        (more) => this.#schedule(more ? 0 : this.#options.intervalMs),
        (error: unknown) => {
          // Polls run every few ms: one line a minute says enough about a lasting failure.
          if (Date.now() - this.#lastWarningMs > 60_000) {
            this.#lastWarningMs = Date.now();
            this.#options.logger.warn({ err: error }, "outbox tail poll failed; trying again");
          }
          this.#schedule(this.#options.intervalMs);
        },
      );
    }, delayMs);
    this.#timer.unref();
  }

  /** One query: the horizon and the next rows below it. True when more rows are waiting. */
  async #poll(): Promise<boolean> {
    const after = this.#after;
    if (!after) return false;
    const started = process.hrtime.bigint();
    const { batchSize, subjects } = this.#options;
    const result = await select<RawRow & { horizon: string }>(
      this.#options.db,
      sql`with h as (select pg_snapshot_xmin(pg_current_snapshot()) as horizon)
          select h.horizon::text as horizon, o.* from h left join lateral (
            select ${rowColumns} from outbox
            where (txid, id) > (${after.txid.toString()}::xid8, ${after.id.toString()}::bigint)
              and txid < h.horizon and subject in ${list(subjects)}
            order by outbox.txid, outbox.id limit ${batchSize}) o on true`,
    );
    const horizon = BigInt(result[0]?.horizon ?? "0");
    const rows = result.filter((raw) => raw.id !== null).map(toRow);
    for (const row of rows) {
      const listeners = this.#listeners.get(row.thingId);
      if (listeners) for (const listener of listeners) listener(row);
    }
    const full = rows.length >= batchSize;
    const last = rows.at(-1);
    // A full page stops at its last row; otherwise everything below the horizon has been read.
    this.#after = full && last ? last : { txid: horizon, id: 0n };
    this.stats.polls++;
    this.stats.rows += rows.length;
    this.stats.pollSeconds += Number(process.hrtime.bigint() - started) / 1e9;
    this.stats.lastHorizon = horizon;
    return full;
  }
}

interface RawRow {
  id: string | null;
  subject: string;
  thing_id: string;
  sequence: string;
  payload: Uint8Array;
  txid: string;
}

// Read as text (values pass 2^53), under the columns' own names: so an ORDER BY of a query that
// selects these must name `outbox.<column>`, or it would sort the text ("9" after "11").
const rowColumns = sql.raw(
  "id::text as id, subject, thing_id, sequence::text as sequence, payload, txid::text as txid",
);

function toRow(raw: RawRow): OutboxRow {
  return {
    id: BigInt(raw.id ?? "0"),
    subject: raw.subject,
    thingId: raw.thing_id,
    sequence: Number(raw.sequence),
    payload: raw.payload,
    txid: BigInt(raw.txid),
  };
}

/** `(a, b, c)` for `in`: drizzle expands a parameter list this way. */
function list(values: readonly string[]): SQL {
  if (values.length === 0) return sql`(null)`;
  return sql`(${sql.join(
    values.map((value) => sql`${value}`),
    sql`, `,
  )})`;
}

// biome-ignore lint/suspicious/noExplicitAny: any service's schema; the tail reads only `outbox`.
type AnyDatabase = Database<any>;

/** postgres.js answers `execute` with an array of rows; drizzle's type does not say so. */
async function select<T>(db: AnyDatabase, query: SQL): Promise<T[]> {
  return (await db.execute(query)) as unknown as T[];
}
