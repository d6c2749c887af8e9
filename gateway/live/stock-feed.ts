// The stock feed: ONE upstream WatchStock stream (per 100 ids) for every stockChanged subscriber
// of this gateway process, watching the union of their ids and re-subscribed when that set grows
// or shrinks; resumed from its last cursor when the catalog restarts, so subscribers see neither
// a gap nor an error.
//
// Stock is state: the feed keeps each product's latest, and hands subscribers what changed at
// most once per tick (`tickMs`), as one batch per subscriber: the latest state of each product
// that changed, in the order they changed. A subscriber still busy with its last batch (a slow
// client: the response waits for its socket to drain) collects the latest state per product
// meanwhile, so it costs memory bounded by the products it watches, and gets them all in its
// next batch. The per-subscriber work per tick is one batch, whatever the catalog's rate; the
// batches are rendered and written once per distinct content (gateway/live/stock-frames.ts).
//
// Resuming (SSE's Last-Event-ID): a batch carries the feed's safe cursor (every change up to it
// has been handed out) when its subscriber is covered by the upstream streams: after the batch
// the subscriber has everything the feed has. A resumed subscriber is sent only states newer
// than its cursor: exactly what it missed for products whose changes this feed has followed; for
// states this feed has only from a snapshot (it started watching them after the cursor), the
// snapshot's horizon is all it can compare, so such states may be sent again (never a gap).
import { setMaxListeners } from "node:events";
import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { Repeater } from "graphql-yoga";
import type { CatalogService, StockUpdate } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { comparePositions, decodeCursor, type Position } from "../../platform/events/tail.js";
import type { Logger } from "../../platform/observability/logger.js";
import { type FeedOptions, type Offered, type StockBatch, stockBatches } from "./stock-batch.js";

export { type FeedOptions, type Offered, type StockBatch, stockBatches };

const maxIdsPerStream = 100;
const retryMinMs = 100;
const retryMaxMs = 5_000;

interface StockSubscriber {
  ids: ReadonlySet<string>;
  /** Its ids are all among the upstreams' (false from joining until the next re-subscription). */
  covered: boolean;
  /** The latest state of each product changed since its last batch. */
  pending: Map<string, Offered>;
  /** Its last batch is not taken yet. */
  busy: boolean;
  /** Sends what is pending as one batch. */
  flush(): void;
}

/** One upstream stream's progress: every change at or before `cursor` has been offered. */
interface Chunk {
  cursor: string | undefined;
  position: Position | undefined;
}

/** Multiplexes every stockChanged subscriber of the process onto shared upstream streams. */
export class StockFeed {
  readonly #subscribers = new Set<StockSubscriber>();
  /** Who watches each product. */
  readonly #byProduct = new Map<string, Set<StockSubscriber>>();
  /** The latest stock per watched product, for subscribers that join later. */
  readonly #latest = new Map<string, Offered>();
  /** Products changed since the last tick. Reading the upstream only records (so it keeps up
   * with the catalog, and states coalesce here rather than in the connection's buffers). */
  readonly #changed = new Set<string>();
  /** Subscribers with something pending. */
  readonly #dirty = new Set<StockSubscriber>();
  #tick: NodeJS.Timeout | undefined;
  #lastTick = 0;
  #serial = 0;
  #upstream: { ids: string[]; abort: AbortController; chunks: Chunk[] } | undefined;
  /** The oldest chunk cursor, once every chunk has one: all offered up to there. */
  #safe: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #closing = new AbortController();
  readonly #settleMs: number;
  readonly #tickMs: number;
  /** Upstream streams opened so far (tests and /metrics read it). */
  upstreamsOpened = 0;
  /** Batches handed to subscribers so far. */
  batches = 0;

  constructor(
    private readonly catalog: Client<typeof CatalogService>,
    private readonly logger: Logger,
    options: FeedOptions = {},
  ) {
    this.#settleMs = options.settleMs ?? 20;
    this.#tickMs = options.tickMs ?? 50;
    // Every subscription listens for the gateway closing: thousands, by design.
    setMaxListeners(0, this.#closing.signal);
  }

  get subscribers(): number {
    return this.#subscribers.size;
  }

  /** Subscribers whose last batch is not taken yet (slow clients). */
  get busy(): number {
    let busy = 0;
    for (const subscriber of this.#subscribers) if (subscriber.busy) busy++;
    return busy;
  }

  /** Whether every subscriber is covered by the upstream streams and they have a cursor: the
   * next change each one gets carries a cursor to resume from. */
  get settled(): boolean {
    return this.#safe !== undefined && [...this.#subscribers].every((s) => s.covered);
  }

  /** The ids the upstream streams watch now. */
  get watching(): readonly string[] {
    return this.#upstream?.ids ?? [];
  }

  /**
   * Each product's current stock, then its changes, in batches, for as long as the iterator is
   * read; a slow reader gets the latest stock per product (coalesced). Returning the iterator
   * (the client went away) ends it at once, even while it waits. `resumeFrom` (an event's
   * cursor) leaves out the states the client had at that cursor.
   */
  subscribe(productIds: readonly string[], resumeFrom = ""): AsyncIterableIterator<StockBatch> {
    const resumed = resumeFrom === "" ? undefined : decodeCursor(resumeFrom);
    const stream = new Repeater<StockBatch>(async (push, stop) => {
      const sent = new Map<string, number>();
      const subscriber: StockSubscriber = {
        ids: new Set(productIds),
        covered: false,
        pending: new Map(),
        busy: false,
        flush: () => {
          const updates: Offered[] = [];
          for (const each of subscriber.pending.values()) {
            const { update, position } = each;
            // What the client had before it reconnected.
            if (resumed && position && comparePositions(position, resumed) <= 0) continue;
            // A re-subscription's snapshot repeats what the subscriber has: only changes go out.
            if (sent.get(update.productId) === update.stock) continue;
            sent.set(update.productId, update.stock);
            updates.push(each);
          }
          subscriber.pending.clear();
          if (updates.length === 0) return;
          subscriber.busy = true;
          this.batches++;
          // Caught up with the feed: everything up to its safe cursor is in this batch or sent.
          const resumeCursor = subscriber.covered ? this.#safe : undefined;
          // Resolves when the reader takes it; meanwhile newer stock collects in `pending`.
          void push({ updates, resumeCursor }).then(() => {
            subscriber.busy = false;
            if (subscriber.pending.size > 0) this.#markDirty(subscriber);
          });
        },
      };
      this.#subscribers.add(subscriber);
      for (const id of subscriber.ids) {
        const watchers = this.#byProduct.get(id) ?? new Set();
        this.#byProduct.set(id, watchers);
        watchers.add(subscriber);
        // What the feed knows already goes out at once (not covered yet: no cursor).
        const known = this.#latest.get(id);
        if (known) subscriber.pending.set(id, known);
      }
      subscriber.flush();
      this.#resubscribeSoon();
      const onClose = () => stop();
      this.#closing.signal.addEventListener("abort", onClose);
      if (this.#closing.signal.aborted) stop();
      await stop;
      this.#closing.signal.removeEventListener("abort", onClose);
      this.#subscribers.delete(subscriber);
      this.#dirty.delete(subscriber);
      for (const id of subscriber.ids) {
        const watchers = this.#byProduct.get(id);
        watchers?.delete(subscriber);
        if (watchers?.size === 0) this.#byProduct.delete(id);
      }
      this.#resubscribeSoon();
    });
    return Object.assign(stream, { [stockBatches]: true });
  }

  /** Aborted by close(): subscriptions of other feeds end with it too. */
  get closing(): AbortSignal {
    return this.#closing.signal;
  }

  async close(): Promise<void> {
    this.#closing.abort();
    clearTimeout(this.#timer);
    clearTimeout(this.#tick);
    this.#upstream?.abort.abort();
    this.#upstream = undefined;
  }

  #resubscribeSoon(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#resubscribe(), this.#settleMs);
    this.#timer.unref();
  }

  #resubscribe(): void {
    if (this.#closing.signal.aborted) return;
    const wanted = new Set<string>();
    for (const subscriber of this.#subscribers) {
      for (const id of subscriber.ids) wanted.add(id);
      subscriber.covered = true;
    }
    const ids = [...wanted].sort();
    const current = this.#upstream?.ids ?? [];
    if (ids.length === current.length && ids.every((id, i) => id === current[i])) return;
    this.#upstream?.abort.abort();
    for (const id of this.#latest.keys()) if (!wanted.has(id)) this.#latest.delete(id);
    if (ids.length === 0) {
      this.#upstream = undefined;
      return;
    }
    const abort = new AbortController();
    const chunks: Chunk[] = [];
    this.#upstream = { ids, abort, chunks };
    this.#safe = undefined;
    for (let i = 0; i < ids.length; i += maxIdsPerStream) {
      const chunk: Chunk = { cursor: undefined, position: undefined };
      chunks.push(chunk);
      void this.#run(ids.slice(i, i + maxIdsPerStream), chunk, abort.signal);
    }
  }

  /** One upstream stream for `ids`, resumed from its last cursor after any failure. */
  async #run(ids: string[], chunk: Chunk, signal: AbortSignal): Promise<void> {
    let delayMs = retryMinMs;
    while (!signal.aborted) {
      try {
        this.upstreamsOpened++;
        // A new set of ids starts from a snapshot (the new ids need their current stock).
        const cursor = chunk.cursor ?? "";
        // A snapshot's states but its last have no cursor; they are held until the last one
        // says where the snapshot stands (they come together), so every state has a position.
        const held: StockUpdate[] = [];
        for await (const res of this.catalog.watchStock({ productIds: ids, cursor }, { signal })) {
          const update = res.update;
          delayMs = retryMinMs;
          if (!update) continue; // a heartbeat
          if (update.cursor === "") {
            held.push(update);
            continue;
          }
          const position = decodeCursor(update.cursor);
          if (position) this.#advance(chunk, update.cursor, position);
          for (const each of [...held.splice(0), update]) this.#record(each, position);
        }
      } catch (error) {
        if (signal.aborted) return;
        const code = ConnectError.from(error).code;
        // An unknown product ends the stream for good; anything else (a restart) is retried.
        if (code === Code.NotFound || code === Code.InvalidArgument) {
          this.logger.warn({ err: error }, "stock feed refused; dropping unknown products");
          return;
        }
        this.logger.debug({ err: error }, "stock feed interrupted; resuming from its cursor");
      }
      if (signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
      delayMs = Math.min(retryMaxMs, delayMs * 2);
    }
  }

  #record(update: StockUpdate, position: Position | undefined): void {
    this.#latest.set(update.productId, { update, position, serial: ++this.#serial });
    this.#changed.add(update.productId);
    this.#tickSoon();
  }

  #markDirty(subscriber: StockSubscriber): void {
    this.#dirty.add(subscriber);
    this.#tickSoon();
  }

  /** The next tick: at once when the last was `tickMs` ago or more, else when it will be. */
  #tickSoon(): void {
    if (this.#tick !== undefined || this.#closing.signal.aborted) return;
    const waitMs = Math.max(0, this.#lastTick + this.#tickMs - Date.now());
    this.#tick = setTimeout(() => {
      this.#tick = undefined;
      this.#lastTick = Date.now();
      this.#handOut();
    }, waitMs);
  }

  #handOut(): void {
    for (const id of this.#changed) {
      const latest = this.#latest.get(id);
      if (!latest) continue;
      for (const subscriber of this.#byProduct.get(id) ?? []) {
        // Moved to the end: a batch lists products in the order they last changed.
        subscriber.pending.delete(id);
        subscriber.pending.set(id, latest);
        this.#dirty.add(subscriber);
      }
    }
    this.#changed.clear();
    for (const subscriber of this.#dirty) {
      if (subscriber.busy) continue; // it is marked again once it takes its batch
      this.#dirty.delete(subscriber);
      subscriber.flush();
    }
  }

  /** The chunk has offered everything up to `cursor`: the feed's safe cursor may move on. */
  #advance(chunk: Chunk, cursor: string, position: Position): void {
    chunk.cursor = cursor;
    chunk.position = position;
    const chunks = this.#upstream?.chunks ?? [];
    let oldest: Chunk | undefined;
    for (const each of chunks) {
      if (!each.position) {
        this.#safe = undefined;
        return;
      }
      if (!oldest?.position || comparePositions(each.position, oldest.position) < 0) oldest = each;
    }
    this.#safe = oldest?.cursor;
  }
}
