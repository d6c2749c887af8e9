// The gateway's live feeds for GraphQL subscriptions: the shared stock feed
// (gateway/live/stock-feed.ts), each subscriber's order feed (gateway/live/order-feed.ts), and
// the rendering of stock batches into shared SSE frames (gateway/live/stock-frames.ts).
import type { Client } from "@connectrpc/connect";
import type { OrderService } from "../gen/bazaar/order/v1/order_pb.js";
import type { StockFeed } from "./live/stock-feed.js";
import type { StockFrames } from "./live/stock-frames.js";

export { type OrderEvent, watchOrders } from "./live/order-feed.js";
export { type FeedOptions, type Offered, type StockBatch, StockFeed } from "./live/stock-feed.js";

/** What subscriptions read: the shared stock feed, and a streaming client for orders. */
export interface LiveFeeds {
  stock: StockFeed;
  /** Executes and renders stock events once per state and document. */
  frames: StockFrames;
  order: Client<typeof OrderService>;
  /** Aborted when the gateway stops: every subscription ends then. */
  closing: AbortSignal;
}
