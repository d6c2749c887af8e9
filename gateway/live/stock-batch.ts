// What the stock feed (gateway/live/stock-feed.ts) hands its subscribers, and how it is set up.
import type { StockUpdate } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import type { Position } from "../../platform/events/tail.js";

export interface FeedOptions {
  /** Changes to the set of watched ids within this window make one re-subscription. */
  settleMs?: number;
  /** Subscribers are handed changes at most this often (stock coalesces between ticks). */
  tickMs?: number;
  /**
   * Batches handed out per second at most, over all subscribers: with more subscribers than
   * this × tickMs / 1000, the tick stretches to subscribers / this seconds.
   */
  batchesPerSecond?: number;
}

/** A product's state as the feed hands it on: with its position in the outbox, if it has one. */
export interface Offered {
  update: StockUpdate;
  position: Position | undefined;
  /** Unique per state the feed received: batches with the same states are the same batch. */
  serial: number;
}

/** What one subscriber gets at a tick. */
export interface StockBatch {
  /** The latest state of each product that changed, in the order they changed. */
  updates: readonly Offered[];
  /** The cursor to resume from once the client has the whole batch (undefined: none yet). */
  resumeCursor: string | undefined;
}

/** Marks the feed's subscriptions, whose events are batches (gateway/live/stock-frames.ts). */
export const stockBatches = Symbol("stock batches");
