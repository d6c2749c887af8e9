// The gateway's live feeds for GraphQL subscriptions. Stock: ONE upstream WatchStock stream (per
// 100 ids) for every stockChanged subscriber of this process, watching the union of their ids
// and re-subscribed when that set grows or shrinks; resumed from its last cursor when the
// catalog restarts, so subscribers see neither a gap nor an error. Orders: WatchOrders with each
// subscriber's own token (the gateway holds no identity of its own to watch for others).
import { type CallOptions, type Client, Code, ConnectError } from "@connectrpc/connect";
import { Repeater } from "graphql-yoga";
import type { CatalogService, StockUpdate } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import type { Order, OrderService } from "../gen/bazaar/order/v1/order_pb.js";
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

interface StockSubscriber {
  ids: ReadonlySet<string>;
  offer(update: StockUpdate): void;
}

/** Multiplexes every stockChanged subscriber of the process onto shared upstream streams. */
export class StockFeed {
  readonly #subscribers = new Set<StockSubscriber>();
  /** The latest stock per watched product, for subscribers that join later. */
  readonly #latest = new Map<string, StockUpdate>();
  #upstream: { ids: string[]; abort: AbortController } | undefined;
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
  }

  get subscribers(): number {
    return this.#subscribers.size;
  }

  /** The ids the upstream streams watch now. */
  get watching(): readonly string[] {
    return this.#upstream?.ids ?? [];
  }

  /**
   * Each product's current stock, then its changes, for as long as the iterator is read;
   * a slow reader gets the latest stock per product (coalesced). Returning the iterator (the
   * client went away) ends it at once, even while it waits.
   */
  subscribe(productIds: readonly string[]): AsyncIterableIterator<StockUpdate> {
    return new Repeater<StockUpdate>(async (push, stop) => {
      const pending = new Map<string, StockUpdate>();
      const sent = new Map<string, number>();
      let draining = false;
      const drain = async () => {
        if (draining) return;
        draining = true;
        for (let next = first(pending); next; next = first(pending)) {
          pending.delete(next.productId);
          // A re-subscription's snapshot repeats what the subscriber has: only changes go out.
          if (sent.get(next.productId) === next.stock) continue;
          sent.set(next.productId, next.stock);
          // Resolves when the reader takes it: meanwhile newer stock replaces what waits.
          await push(next);
        }
        draining = false;
      };
      const subscriber: StockSubscriber = {
        ids: new Set(productIds),
        offer: (update) => {
          pending.delete(update.productId);
          pending.set(update.productId, update);
          void drain();
        },
      };
      this.#subscribers.add(subscriber);
      for (const id of subscriber.ids) {
        const known = this.#latest.get(id);
        if (known) subscriber.offer(known);
      }
      this.#resubscribeSoon();
      const onClose = () => stop();
      this.#closing.signal.addEventListener("abort", onClose);
      if (this.#closing.signal.aborted) stop();
      await stop;
      this.#closing.signal.removeEventListener("abort", onClose);
      this.#subscribers.delete(subscriber);
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
    for (const subscriber of this.#subscribers) for (const id of subscriber.ids) wanted.add(id);
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
    this.#upstream = { ids, abort };
    for (let i = 0; i < ids.length; i += maxIdsPerStream) {
      void this.#run(ids.slice(i, i + maxIdsPerStream), abort.signal);
    }
  }

  /** One upstream stream for `ids`, resumed from its last cursor after any failure. */
  async #run(ids: string[], signal: AbortSignal): Promise<void> {
    // A new set of ids starts from a snapshot (the new ids need their current stock).
    let cursor = "";
    let delayMs = retryMinMs;
    while (!signal.aborted) {
      try {
        this.upstreamsOpened++;
        for await (const res of this.catalog.watchStock({ productIds: ids, cursor }, { signal })) {
          const update = res.update;
          delayMs = retryMinMs;
          if (!update) continue; // a heartbeat
          cursor = update.cursor;
          this.#latest.set(update.productId, update);
          for (const subscriber of this.#subscribers) {
            if (subscriber.ids.has(update.productId)) subscriber.offer(update);
          }
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
): AsyncIterableIterator<Order> {
  return new Repeater<Order>(async (push, stop) => {
    const abort = new AbortController();
    void stop.then(() => abort.abort());
    const onClose = () => stop();
    closing.addEventListener("abort", onClose);
    void stop.then(() => closing.removeEventListener("abort", onClose));
    if (closing.aborted) stop();
    let cursor = "";
    let delayMs = retryMinMs;
    while (!abort.signal.aborted) {
      try {
        const options = { ...call(), signal: abort.signal };
        for await (const res of order.watchOrders({ orderIds: [...ids], cursor }, options)) {
          delayMs = retryMinMs;
          if (!res.update?.order) continue; // a heartbeat
          cursor = res.update.cursor;
          await push(res.update.order);
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
