// A Watch* server stream over the outbox tail: first each thing's current state, then each change
// in order per thing, coalesced per thing for a slow reader (these are states: the latest wins, so
// memory stays bounded by the number of things watched), a heartbeat while idle, and an end that
// says why: the client left, the server drains (UNAVAILABLE: resume elsewhere with the cursor), or
// the token expired (UNAUTHENTICATED).
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import * as v from "valibot";
import { callerOf, kTokenExpiresAt } from "../auth/auth.js";
import type { Database } from "../data/database.js";
import { connectionOf, drainingOf } from "../http/call-context.js";
import { clientAddressOf } from "../http/client-address.js";
import { uuidField } from "../http/validation.js";
import {
  type Cursor,
  decodeCursor,
  encodeCursor,
  type OutboxRow,
  type OutboxTail,
  type Position,
} from "./tail.js";

export const maxWatchedIds = 100;

/** A Watch* request's ids: 1 to 100 UUIDs, lower-cased, repeats merged. */
export const watchIds = v.pipe(
  v.array(uuidField),
  v.minLength(1, "must name at least one id"),
  v.maxLength(maxWatchedIds, `must hold at most ${maxWatchedIds} ids`),
  v.transform((ids) => [...new Set(ids)]),
);

/** A Watch* request's resume cursor: empty, or one a stream sent (anything else starts afresh). */
export const watchCursor = v.pipe(v.string(), v.maxLength(100, "must be a cursor a stream sent"));

/** How one service's things look in its streams: from an event, and as they are now. */
export interface StateSource<T> {
  tail: OutboxTail;
  /** The thing's state an event carries; undefined for an event this stream does not show. */
  fromEvent(row: OutboxRow): T | undefined;
  /**
   * The current state of each thing the caller may see, read inside the snapshot's
   * transaction; a thing left out is unknown (or not the caller's) and refused with NOT_FOUND.
   */
  read(tx: Database<Record<string, unknown>>, ids: readonly string[]): Promise<Map<string, T>>;
  /** The refusal for ids `read` left out (their existence is not disclosed). */
  notFound(ids: readonly string[]): ConnectError;
}

export interface StateUpdate<T> {
  thingId: string;
  state: T;
  cursor: string;
}

export interface WatchSettings {
  /** An idle stream sends a heartbeat this often, so proxies keep it open. */
  heartbeatMs: number;
}

interface Pending<T> {
  thingId: string;
  state: T;
  position: Position;
  /**
   * False for a snapshot's states but its last: they share one position, so a reader that
   * resumed after the first would never get the others. Their cursor is empty (a fresh start).
   */
  resumable: boolean;
}

/**
 * Each thing's latest entry only, still in position order: cursors handed out keep rising,
 * and none passes a change not yet sent.
 */
function coalesced<T>(queue: readonly Pending<T>[]): Pending<T>[] {
  const latest = new Map<string, Pending<T>>();
  for (const entry of queue) {
    latest.delete(entry.thingId);
    latest.set(entry.thingId, entry);
  }
  return [...latest.values()];
}

/**
 * The stream's messages: state updates, and `undefined` for a heartbeat. `cursorText` resumes:
 * what was missed while retained (newest per thing), else a fresh snapshot.
 */
export async function* watchStates<T>(
  source: StateSource<T>,
  ids: readonly string[],
  cursorText: string,
  ctx: HandlerContext,
  settings: WatchSettings,
): AsyncGenerator<StateUpdate<T> | undefined> {
  const { tail } = source;
  await tail.ready();
  // Updates not yet sent, in position order. Past `bound` the reader is slow: the queue is
  // coalesced to each thing's latest state (memory stays bounded by the things watched).
  let pending: Pending<T>[] = [];
  const bound = Math.max(16, 2 * ids.length);
  const lastSequence = new Map<string, number>();
  let buffered: OutboxRow[] | undefined = [];
  let wake: (() => void) | undefined;

  const consider = (row: OutboxRow) => {
    // A thing's events may arrive out of sequence across polls: only a newer one counts.
    if (row.sequence <= (lastSequence.get(row.thingId) ?? 0)) return;
    lastSequence.set(row.thingId, row.sequence);
    const state = source.fromEvent(row);
    if (state === undefined) return;
    pending.push({ thingId: row.thingId, state, position: row, resumable: true });
    if (pending.length > bound) pending = coalesced(pending);
    wake?.();
  };
  const unwatch = tail.watch(ids, (row) => {
    if (buffered) buffered.push(row);
    else consider(row);
  });
  const signals = [ctx.signal, drainingOf(ctx)];
  const onSignal = () => wake?.();
  for (const signal of signals) signal.addEventListener("abort", onSignal);
  const expiresAt = ctx.values.get(kTokenExpiresAt);
  const expiry =
    expiresAt === undefined
      ? undefined
      : setTimeout(onSignal, Math.min(Math.max(0, expiresAt - Date.now()), 2 ** 31 - 1));
  try {
    const cursor = cursorText === "" ? undefined : decodeCursor(cursorText);
    const replay = cursor ? await tail.replay(ids, cursor) : undefined;
    if (replay) {
      // Resuming: only ids the caller may see, then what it missed.
      const known = await tail.snapshot(ids, (tx) => source.read(tx, ids));
      refuseMissing(source, ids, known.state);
      for (const [id, sequence] of replay.seen) lastSequence.set(id, sequence);
      for (const row of replay.rows) consider(row);
    } else {
      const snapshot = await tail.snapshot(ids, (tx) => source.read(tx, ids));
      refuseMissing(source, ids, snapshot.state);
      for (const [id, sequence] of snapshot.sequences) lastSequence.set(id, sequence);
      const position = { txid: snapshot.horizon, id: 0n };
      for (const [i, id] of ids.entries()) {
        const state = snapshot.state.get(id);
        const resumable = i === ids.length - 1;
        if (state !== undefined) pending.push({ thingId: id, state, position, resumable });
      }
    }
    const early = buffered;
    buffered = undefined;
    for (const row of early) consider(row);

    for (;;) {
      if (ctx.signal.aborted) return;
      if (drainingOf(ctx).aborted) {
        throw new ConnectError(
          "the server is shutting down; reconnect with your last cursor",
          Code.Unavailable,
        );
      }
      if (expiresAt !== undefined && Date.now() >= expiresAt) {
        throw new ConnectError("access token expired; log in again", Code.Unauthenticated);
      }
      const next = pending.shift();
      if (next) {
        const { thingId, state, position, resumable } = next;
        const cursor = resumable ? encodeCursor({ ...position, timeMs: Date.now() }) : "";
        yield { thingId, state, cursor };
        continue;
      }
      const changed = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), settings.heartbeatMs);
        wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      wake = undefined;
      if (!changed) yield undefined;
    }
  } finally {
    unwatch();
    clearTimeout(expiry);
    for (const signal of signals) signal.removeEventListener("abort", onSignal);
  }
}

function refuseMissing<T>(source: StateSource<T>, ids: readonly string[], found: Map<string, T>) {
  const missing = ids.filter((id) => !found.has(id));
  if (missing.length > 0) throw source.notFound(missing);
}

export interface StreamCaps {
  /** Open Watch streams per process. */
  perProcess: number;
  /** Per caller: a user's account, a service, or an anonymous caller's address. */
  perCaller: number;
  /** Per connection (HTTP/2 session or HTTP/1.1 socket). */
  perConnection: number;
}

/** Counts open Watch streams and refuses one past any cap with RESOURCE_EXHAUSTED. */
export class StreamLimits {
  #open = 0;
  readonly #byCaller = new Map<string, number>();
  readonly #byConnection = new WeakMap<object, number>();

  constructor(readonly caps: StreamCaps) {}

  get open(): number {
    return this.#open;
  }

  /** Admits a stream, or throws; call the returned function exactly once when it ends. */
  admit(ctx: HandlerContext): () => void {
    const caller = callerOf(ctx);
    const callerKey =
      caller.kind === "user"
        ? `user:${caller.accountId}`
        : caller.kind === "service"
          ? `service:${caller.service}`
          : `address:${clientAddressOf(ctx)}`;
    const connection = connectionOf(ctx);
    const byCaller = this.#byCaller.get(callerKey) ?? 0;
    const byConnection = this.#byConnection.get(connection) ?? 0;
    const refuse = (what: string, cap: number) =>
      new ConnectError(
        `too many open streams ${what} (at most ${cap}); close one or retry later`,
        Code.ResourceExhausted,
      );
    if (this.#open >= this.caps.perProcess) throw refuse("on this server", this.caps.perProcess);
    if (byCaller >= this.caps.perCaller) throw refuse("for this caller", this.caps.perCaller);
    if (byConnection >= this.caps.perConnection) {
      throw refuse("on this connection", this.caps.perConnection);
    }
    this.#open++;
    this.#byCaller.set(callerKey, byCaller + 1);
    this.#byConnection.set(connection, byConnection + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#open--;
      const left = (this.#byCaller.get(callerKey) ?? 1) - 1;
      if (left === 0) this.#byCaller.delete(callerKey);
      else this.#byCaller.set(callerKey, left);
      this.#byConnection.set(connection, (this.#byConnection.get(connection) ?? 1) - 1);
    };
  }
}

/** The pieces a service's Watch handler needs: its tail's state source, caps and settings. */
export interface Live<T> {
  source: StateSource<T>;
  limits: StreamLimits;
  settings: WatchSettings;
}

/** watchStates within the caps: the stream counts against them until it ends, however it ends. */
export async function* capped<T>(
  live: Live<T>,
  ids: readonly string[],
  cursor: string,
  ctx: HandlerContext,
): AsyncGenerator<StateUpdate<T> | undefined> {
  const release = live.limits.admit(ctx);
  try {
    yield* watchStates(live.source, ids, cursor, ctx, live.settings);
  } finally {
    release();
  }
}

export type { Cursor };
