// The stock feed: ONE upstream WatchStock stream (per 100 ids) for every stockChanged subscriber
// of this gateway process, watching the union of their ids and re-subscribed when that set grows
// or shrinks; resumed from its last cursor when the catalog restarts, so subscribers see neither
// a gap nor an error.
//
// Stock is state: the feed keeps each product's latest, and hands subscribers what changed at
// most once per tick (`tickMs`), as one batch per subscriber: the latest state of each product
// that changed, in the order they changed. Each batch is a socket write, whose cost is mostly
// the kernel's: past `batchesPerSecond` over all subscribers, the tick stretches (fewer, fuller
// batches, more latency) rather than the writes taking the CPU the rest of the process and the
// machine's other processes need. A subscriber still busy with its last batch (a slow
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
import type { Client } from "@connectrpc/connect";
import { Repeater } from "graphql-yoga";
import type { CatalogService, StockUpdate } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { comparePositions, decodeCursor, type Position } from "../../platform/events/tail.js";
import type { Logger } from "../../platform/observability/logger.js";
import { type FeedOptions, type Offered, type StockBatch, stockBatches } from "./stock-batch.js";
import { StockUpstream } from "./stock-upstream.js";

export { type FeedOptions, type Offered, type StockBatch, stockBatches };

interface StockSubscriber {
  group: Group;
  /** Its ids are all among the upstreams' (false from joining until the next re-subscription). */
  covered: boolean;
  /** The latest state of each product it has not been sent (while busy, new or resumed). */
  pending: Map<string, Offered>;
  /** Its last batch is not taken yet. */
  busy: boolean;
  /** Resuming: what it is sent is filtered by its cursor, so it takes no shared batch. */
  resumed: Position | undefined;
  send(batch: StockBatch): void;
  /** Sends what is pending as a batch of its own. */
  flush(): void;
}

/** Subscribers of the same ids: they are handed the same batch object at a tick. */
interface Group {
  ids: ReadonlySet<string>;
  members: Set<StockSubscriber>;
  /** The latest state of each of its products changed this tick, in the order they changed. */
  changed: Offered[];
}

/** Multiplexes every stockChanged subscriber of the process onto shared upstream streams. */
export class StockFeed {
  readonly #subscribers = new Set<StockSubscriber>();
  readonly #groups = new Map<string, Group>();
  /** Which groups watch each product. */
  readonly #byProduct = new Map<string, Set<Group>>();
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
  readonly #upstream: StockUpstream;
  #timer: NodeJS.Timeout | undefined;
  readonly #closing = new AbortController();
  /** Ends each open subscription (at close). */
  readonly #ends = new Set<() => void>();
  readonly #settleMs: number;
  readonly #tickMs: number;
  readonly #batchesPerSecond: number;
  /** Batches handed to subscribers so far. */
  batches = 0;

  constructor(catalog: Client<typeof CatalogService>, logger: Logger, options: FeedOptions = {}) {
    this.#upstream = new StockUpstream(catalog, logger, (update, position) =>
      this.#record(update, position),
    );
    this.#settleMs = options.settleMs ?? 20;
    this.#tickMs = options.tickMs ?? 50;
    this.#batchesPerSecond = options.batchesPerSecond ?? Number.POSITIVE_INFINITY;
    // Every order subscription listens for the gateway closing: thousands, by design.
    setMaxListeners(0, this.#closing.signal);
  }

  /** Upstream streams opened so far (tests and /metrics read it). */
  get upstreamsOpened(): number {
    return this.#upstream.opened;
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
    return this.#upstream.safe !== undefined && [...this.#subscribers].every((s) => s.covered);
  }

  /** The ids the upstream streams watch now. */
  get watching(): readonly string[] {
    return this.#upstream.ids;
  }

  /**
   * Each product's current stock, then its changes, in batches, for as long as the iterator is
   * read; a slow reader gets the latest stock per product (coalesced). Returning the iterator
   * (the client went away) ends it at once, even while it waits. `resumeFrom` (an event's
   * cursor) leaves out the states the client had at that cursor.
   */
  subscribe(productIds: readonly string[], resumeFrom = ""): AsyncIterableIterator<StockBatch> {
    const stream = new Repeater<StockBatch>(async (push, stop) => {
      const subscriber: StockSubscriber = {
        group: this.#join(productIds),
        covered: false,
        pending: new Map(),
        busy: false,
        resumed: resumeFrom === "" ? undefined : decodeCursor(resumeFrom),
        send: (batch) => {
          subscriber.busy = true;
          this.batches++;
          // Resolves when the reader takes it; meanwhile newer stock collects in `pending`.
          void push(batch).then(() => {
            subscriber.busy = false;
            if (subscriber.pending.size > 0) this.#markDirty(subscriber);
          });
        },
        flush: () => {
          const { pending, resumed } = subscriber;
          // What the client had before it reconnected stays out.
          const updates = [...pending.values()].filter(
            ({ position }) => !resumed || !position || comparePositions(position, resumed) > 0,
          );
          pending.clear();
          // Caught up with the feed: everything up to its safe cursor is in this batch or sent.
          const resumeCursor = subscriber.covered ? this.#upstream.safe : undefined;
          if (updates.length > 0) subscriber.send({ updates, resumeCursor });
        },
      };
      this.#subscribers.add(subscriber);
      subscriber.group.members.add(subscriber);
      // What the feed knows already goes out at once (not covered yet: no cursor).
      for (const id of subscriber.group.ids) {
        const known = this.#latest.get(id);
        if (known) subscriber.pending.set(id, known);
      }
      subscriber.flush();
      this.#resubscribeSoon();
      // A set, not listeners on #closing: removing one of 10,000 listeners is a linear search.
      const end = () => stop();
      this.#ends.add(end);
      if (this.#closing.signal.aborted) stop();
      await stop;
      this.#ends.delete(end);
      this.#subscribers.delete(subscriber);
      this.#dirty.delete(subscriber);
      this.#leave(subscriber);
      this.#resubscribeSoon();
    });
    return Object.assign(stream, { [stockBatches]: true });
  }

  #join(productIds: readonly string[]): Group {
    const ids = [...new Set(productIds)].sort();
    const key = ids.join(",");
    let group = this.#groups.get(key);
    if (!group) {
      group = { ids: new Set(ids), members: new Set(), changed: [] };
      this.#groups.set(key, group);
      for (const id of ids) {
        const groups = this.#byProduct.get(id) ?? new Set();
        this.#byProduct.set(id, groups);
        groups.add(group);
      }
    }
    return group;
  }

  #leave(subscriber: StockSubscriber): void {
    const group = subscriber.group;
    group.members.delete(subscriber);
    if (group.members.size > 0) return;
    this.#groups.delete([...group.ids].join(","));
    for (const id of group.ids) {
      const groups = this.#byProduct.get(id);
      groups?.delete(group);
      if (groups?.size === 0) this.#byProduct.delete(id);
    }
  }

  /** Aborted by close(): subscriptions of other feeds end with it too. */
  get closing(): AbortSignal {
    return this.#closing.signal;
  }

  async close(): Promise<void> {
    this.#closing.abort();
    for (const end of this.#ends) end();
    clearTimeout(this.#timer);
    clearTimeout(this.#tick);
    this.#upstream.close();
  }

  #resubscribeSoon(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#resubscribe(), this.#settleMs);
    this.#timer.unref();
  }

  #resubscribe(): void {
    if (this.#closing.signal.aborted) return;
    const wanted = new Set<string>();
    for (const group of this.#groups.values()) {
      for (const id of group.ids) wanted.add(id);
      for (const subscriber of group.members) subscriber.covered = true;
    }
    if (!this.#upstream.watch([...wanted].sort())) return;
    for (const id of this.#latest.keys()) if (!wanted.has(id)) this.#latest.delete(id);
  }

  #record(update: StockUpdate, position: Position | undefined): void {
    const known = this.#latest.get(update.productId);
    this.#latest.set(update.productId, { update, position, serial: ++this.#serial });
    // A re-subscription's snapshot repeats what subscribers have: only changes go out.
    if (known?.update.stock === update.stock) return;
    this.#changed.add(update.productId);
    this.#tickSoon();
  }

  #markDirty(subscriber: StockSubscriber): void {
    this.#dirty.add(subscriber);
    this.#tickSoon();
  }

  /** Time between ticks now: `tickMs`, or longer when the subscribers' batches would pass
   * `batchesPerSecond`. */
  get tickMs(): number {
    return Math.max(this.#tickMs, (this.#subscribers.size * 1000) / this.#batchesPerSecond);
  }

  /** The next tick: at once when the last was a tick ago or more, else when it will be. */
  #tickSoon(): void {
    if (this.#tick !== undefined || this.#closing.signal.aborted) return;
    const waitMs = Math.max(0, this.#lastTick + this.tickMs - Date.now());
    this.#tick = setTimeout(() => {
      this.#tick = undefined;
      this.#lastTick = Date.now();
      this.#handOut();
    }, waitMs);
  }

  #handOut(): void {
    const touched = new Set<Group>();
    for (const id of this.#changed) {
      const latest = this.#latest.get(id);
      for (const group of (latest && this.#byProduct.get(id)) || []) {
        group.changed.push(latest as Offered);
        touched.add(group);
      }
    }
    this.#changed.clear();
    for (const group of touched) {
      // Every member that keeps up gets the same batch object: rendered once for them all.
      const shared: [StockBatch?, StockBatch?] = [];
      for (const subscriber of group.members) {
        if (subscriber.busy || subscriber.pending.size > 0 || subscriber.resumed) {
          for (const each of group.changed) {
            // Moved to the end: a batch lists products in the order they last changed.
            subscriber.pending.delete(each.update.productId);
            subscriber.pending.set(each.update.productId, each);
          }
          this.#dirty.add(subscriber);
          continue;
        }
        const covered = subscriber.covered ? 1 : 0;
        shared[covered] ??= {
          updates: group.changed,
          resumeCursor: subscriber.covered ? this.#upstream.safe : undefined,
        };
        subscriber.send(shared[covered]);
      }
      group.changed = [];
    }
    for (const subscriber of this.#dirty) {
      if (subscriber.busy) continue; // it is marked again once it takes its batch
      this.#dirty.delete(subscriber);
      subscriber.flush();
    }
  }
}
