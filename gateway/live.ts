// The gateway's live feeds for GraphQL subscriptions. Stock: ONE upstream WatchStock stream (per
// 100 ids) for every stockChanged subscriber of this process, watching the union of their ids
// and re-subscribed when that set grows or shrinks; resumed from its last cursor when the
// catalog restarts, so subscribers see neither a gap nor an error. Orders: WatchOrders with each
// subscriber's own token (the gateway holds no identity of its own to watch for others).
//
// Resuming (SSE's Last-Event-ID): each event may carry a cursor of the service's outbox from
// which a reconnecting client, at any gateway, misses nothing. For orders it is the upstream
// update's own cursor (one stream per subscriber, in order). For stock, one upstream serves
// many subscribers and coalesces per subscriber, so an event carries a cursor only when its
// subscriber has been sent everything the feed has: then the feed's own position is safe. A
// resumed stock subscriber is sent only states newer than its cursor: exactly what it missed
// for products whose changes this feed has followed; for states this feed has only from a
// snapshot (it started watching them after the cursor), the snapshot's horizon is all it can
// compare, so such states may be sent again (never a gap).
// Over 300 lines on purpose: the stock feed's multiplexing, re-subscription and resume are one
// state machine, and the order feed beside it shares its decoding and cursors.
import { setMaxListeners } from "node:events";
import { type CallOptions, type Client, Code, ConnectError } from "@connectrpc/connect";
import { Repeater } from "graphql-yoga";
import type { CatalogService, StockUpdate } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import type { Order, OrderService } from "../gen/bazaar/order/v1/order_pb.js";
import { comparePositions, decodeCursor, type Position } from "../platform/events/tail.js";
import type { Logger } from "../platform/observability/logger.js";

/** What subscriptions read: the shared stock feed, and a streaming client for orders. */
export interface LiveFeeds {
  stock: StockFeed;
  order: Client<typeof OrderService>;
  /** Aborted when the gateway stops: every subscription ends then. */
  closing: AbortSignal;
}

const maxIdsPerStream = 100;
const retryMinMs = 100;
const retryMaxMs = 5_000;

export interface FeedOptions {
  /** Changes to the set of watched ids within this window make one re-subscription. */
  settleMs?: number;
}

/** A stockChanged event: the stock, and the cursor to resume from once the client has it. */
export interface StockEvent {
  update: StockUpdate;
  resumeCursor: string | undefined;
}

/** An update as the feed hands it on: with its position in the catalog's outbox, if it has one. */
interface Offered {
  update: StockUpdate;
  position: Position | undefined;
}

interface StockSubscriber {
  ids: ReadonlySet<string>;
  /** Its ids are all among the upstreams' (false from joining until the next re-subscription). */
  covered: boolean;
  /**
   * The latest state of each product that changed, all at once; `safe`: the feed's cursor
   * once they are sent (undefined when it cannot say).
   */
  offer(offered: readonly Offered[], safe: string | undefined): void;
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
  /**
   * Products changed since the last hand-out. Reading the upstream only records (so it keeps
   * up with the catalog, and states coalesce here rather than in the connection's buffers);
   * one hand-out per turn of the event loop gives every subscriber its changed products.
   */
  readonly #changed = new Set<string>();
  #handOut: NodeJS.Immediate | undefined;
  #upstream: { ids: string[]; abort: AbortController; chunks: Chunk[] } | undefined;
  /** The oldest chunk cursor, once every chunk has one: all offered up to there. */
  #safe: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #closing = new AbortController();
  readonly #settleMs: number;
  /** Upstream streams opened so far (tests and /metrics read it). */
  upstreamsOpened = 0;

  constructor(
    private readonly catalog: Client<typeof CatalogService>,
    private readonly logger: Logger,
    options: FeedOptions = {},
  ) {
    this.#settleMs = options.settleMs ?? 20;
    // Every subscription listens for the gateway closing: thousands, by design.
    setMaxListeners(0, this.#closing.signal);
  }

  get subscribers(): number {
    return this.#subscribers.size;
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
   * Each product's current stock, then its changes, for as long as the iterator is read;
   * a slow reader gets the latest stock per product (coalesced). Returning the iterator (the
   * client went away) ends it at once, even while it waits. `resumeFrom` (an event's cursor)
   * leaves out the states the client had at that cursor.
   */
  subscribe(productIds: readonly string[], resumeFrom = ""): AsyncIterableIterator<StockEvent> {
    const resumed = resumeFrom === "" ? undefined : decodeCursor(resumeFrom);
    return new Repeater<StockEvent>(async (push, stop) => {
      const pending = new Map<string, Offered>();
      const sent = new Map<string, number>();
      // Where the subscriber is once everything offered so far has been sent.
      let safeOnceSent: string | undefined;
      let draining = false;
      const drain = async () => {
        if (draining) return;
        draining = true;
        for (let next = first(pending); next; next = first(pending)) {
          const { update, position } = next;
          pending.delete(update.productId);
          // What the client had before it reconnected.
          if (resumed && position && comparePositions(position, resumed) <= 0) continue;
          // A re-subscription's snapshot repeats what the subscriber has: only changes go out.
          if (sent.get(update.productId) === update.stock) continue;
          sent.set(update.productId, update.stock);
          // Caught up with the feed: everything up to its safe cursor has been sent.
          const resumeCursor = pending.size === 0 ? safeOnceSent : undefined;
          // Resolves when the reader takes it: meanwhile newer stock replaces what waits.
          await push({ update, resumeCursor });
        }
        draining = false;
      };
      const subscriber: StockSubscriber = {
        ids: new Set(productIds),
        covered: false,
        offer: (offered, safe) => {
          for (const each of offered) {
            pending.delete(each.update.productId);
            pending.set(each.update.productId, each);
          }
          safeOnceSent = safe;
          void drain();
        },
      };
      this.#subscribers.add(subscriber);
      for (const id of subscriber.ids) {
        const watchers = this.#byProduct.get(id) ?? new Set();
        this.#byProduct.set(id, watchers);
        watchers.add(subscriber);
      }
      // Not covered yet: no cursor until the next re-subscription.
      const known = [...subscriber.ids].flatMap((id) => this.#latest.get(id) ?? []);
      if (known.length > 0) subscriber.offer(known, undefined);
      this.#resubscribeSoon();
      const onClose = () => stop();
      this.#closing.signal.addEventListener("abort", onClose);
      if (this.#closing.signal.aborted) stop();
      await stop;
      this.#closing.signal.removeEventListener("abort", onClose);
      this.#subscribers.delete(subscriber);
      for (const id of subscriber.ids) {
        const watchers = this.#byProduct.get(id);
        watchers?.delete(subscriber);
        if (watchers?.size === 0) this.#byProduct.delete(id);
      }
      this.#resubscribeSoon();
    });
  }

  /** Aborted by close(): subscriptions of other feeds end with it too. */
  get closing(): AbortSignal {
    return this.#closing.signal;
  }

  async close(): Promise<void> {
    this.#closing.abort();
    clearTimeout(this.#timer);
    if (this.#handOut) clearImmediate(this.#handOut);
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
          for (const each of [...held.splice(0), update]) this.#record({ update: each, position });
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

  #record(offered: Offered): void {
    this.#latest.set(offered.update.productId, offered);
    this.#changed.add(offered.update.productId);
    this.#handOut ??= setImmediate(() => {
      this.#handOut = undefined;
      this.#handOutChanges();
    });
  }

  #handOutChanges(): void {
    const bySubscriber = new Map<StockSubscriber, Offered[]>();
    for (const id of this.#changed) {
      const latest = this.#latest.get(id);
      if (!latest) continue;
      for (const subscriber of this.#byProduct.get(id) ?? []) {
        const list = bySubscriber.get(subscriber) ?? [];
        bySubscriber.set(subscriber, list);
        list.push(latest);
      }
    }
    this.#changed.clear();
    // Everything received is in #latest and was handed out: up to the feed's safe cursor.
    for (const [subscriber, offered] of bySubscriber) {
      subscriber.offer(offered, subscriber.covered ? this.#safe : undefined);
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

/** An orderUpdated event: the order, and the cursor to resume from once the client has it. */
export interface OrderEvent {
  order: Order;
  resumeCursor: string | undefined;
}

/**
 * One subscriber's orders, with its own credentials: first each as it is, then each change;
 * resumed from the last cursor when the order service restarts. Refusals (NOT_FOUND,
 * UNAUTHENTICATED) end it with that error.
 */
export function watchOrders(
  order: Client<typeof OrderService>,
  ids: readonly string[],
  call: () => CallOptions,
  logger: Logger,
  closing: AbortSignal,
  resumeFrom = "",
): AsyncIterableIterator<OrderEvent> {
  return new Repeater<OrderEvent>(async (push, stop) => {
    const abort = new AbortController();
    void stop.then(() => abort.abort());
    const onClose = () => stop();
    closing.addEventListener("abort", onClose);
    void stop.then(() => closing.removeEventListener("abort", onClose));
    if (closing.aborted) stop();
    let cursor = resumeFrom;
    let delayMs = retryMinMs;
    while (!abort.signal.aborted) {
      try {
        const options = { ...call(), signal: abort.signal };
        for await (const res of order.watchOrders({ orderIds: [...ids], cursor }, options)) {
          delayMs = retryMinMs;
          if (!res.update?.order) continue; // a heartbeat
          // Only the last of a snapshot's states has a cursor; the others start afresh.
          if (res.update.cursor !== "") cursor = res.update.cursor;
          await push({ order: res.update.order, resumeCursor: res.update.cursor || undefined });
        }
      } catch (error) {
        if (abort.signal.aborted) break;
        const code = ConnectError.from(error).code;
        if (code !== Code.Unavailable && code !== Code.Internal && code !== Code.Unknown) {
          stop(error);
          break;
        }
        logger.debug({ err: error }, "order feed interrupted; resuming from its cursor");
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
      delayMs = Math.min(retryMaxMs, delayMs * 2);
    }
  });
}

function first<V>(map: Map<string, V>): V | undefined {
  return map.values().next().value;
}
