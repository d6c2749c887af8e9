// Test support for WatchOrders until the order service writes its events itself: an order
// event's outbox row, as the service will write it in the change's transaction.
import { create, toBinary } from "@bufbuild/protobuf";
import { type Order, OrderSchema } from "../../gen/bazaar/order/v1/order_pb.js";
import type { Database } from "../../platform/data/database.js";
import { recordEvent } from "../../platform/events/tail-testing.js";
import type * as schema from "./schema.js";

/** Records `order` as it now is under `event` (OrderPlaced, OrderCancelled, OrderShipped). */
export function recordOrderEvent(
  db: Database<typeof schema>,
  event: "OrderPlaced" | "OrderCancelled" | "OrderShipped",
  order: Order,
): Promise<number> {
  return recordEvent(db, {
    subject: `bazaar.order.v1.${event}`,
    thingId: order.id,
    payload: toBinary(OrderSchema, create(OrderSchema, order)),
  });
}
