// WatchOrders' source: each order from the OrderPlaced / OrderCancelled / OrderShipped events in
// the order service's outbox, and as it is now from its tables, for the caller's orders only.
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Order, OrderSchema } from "../../gen/bazaar/order/v1/order_pb.js";
import { type Caller, mayActFor } from "../../platform/auth/auth.js";
import type { OutboxRow, OutboxTail } from "../../platform/events/tail.js";
import type { StateSource } from "../../platform/events/watch.js";
import { toOrder } from "./messages.js";
import { type OrderDb, readOrders } from "./store.js";

/** The outbox subjects WatchOrders shows. */
export const orderSubjects = [
  "bazaar.order.v1.OrderPlaced",
  "bazaar.order.v1.OrderCancelled",
  "bazaar.order.v1.OrderShipped",
] as const;

/** What WatchOrders needs of an order event: the order as it now is. */
export type OrderEventDecoder = (row: OutboxRow) => Order;

/**
 * Until events.proto lands, an order event's payload is read as the Order itself. The
 * integrator swaps this for the events' own messages, each carrying `order`:
 * `fromBinary({ OrderPlaced: OrderPlacedSchema, OrderCancelled: OrderCancelledSchema,
 * OrderShipped: OrderShippedSchema }[row.subject.split(".").at(-1)], row.payload).order`
 * (from gen/bazaar/order/v1/events_pb.js).
 */
export const decodeOrderEvent: OrderEventDecoder = (row) => fromBinary(OrderSchema, row.payload);

/** The orders `caller` may watch: its own, or any for an admin (and a service). */
export function orderSource(
  tail: OutboxTail,
  caller: Caller,
  decode: OrderEventDecoder = decodeOrderEvent,
): StateSource<Order> {
  return {
    tail,
    fromEvent: (row) => decode(row),
    read: async (tx, ids) => {
      const records = await readOrders(tx as unknown as OrderDb, ids);
      return new Map(
        records
          .filter((record) => mayActFor(caller, record.accountId))
          .map((record) => [record.id, toOrder(record)]),
      );
    },
    // Someone else's order is "not found" too, so the answer never tells that it exists.
    notFound: (ids) =>
      new ConnectError(
        ids.length === 1 ? `order ${ids[0]} not found` : `orders not found: ${ids.join(", ")}`,
        Code.NotFound,
      ),
  };
}
