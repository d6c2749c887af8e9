// WatchOrders' source: each order from the OrderPlaced / OrderCancelled / OrderShipped events in
// the order service's outbox, and as it is now from its tables, for the caller's orders only.
import { type DescMessage, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  OrderCancelledSchema,
  OrderPlacedSchema,
  OrderShippedSchema,
} from "../../gen/bazaar/order/v1/events_pb.js";
import type { Order } from "../../gen/bazaar/order/v1/order_pb.js";
import { type Caller, mayActFor } from "../../platform/auth/auth.js";
import type { OutboxRow, OutboxTail } from "../../platform/events/tail.js";
import type { StateSource } from "../../platform/events/watch.js";
import { toOrder } from "./messages.js";
import { type OrderDb, readOrders } from "./store.js";

// Each of these events carries the order as it now is; the subject names the message.
const orderEvents = [OrderPlacedSchema, OrderCancelledSchema, OrderShippedSchema] as const;
const bySubject = new Map<string, DescMessage>(orderEvents.map((s) => [s.typeName, s]));

/** The outbox subjects WatchOrders shows. */
export const orderSubjects = orderEvents.map((schema) => schema.typeName);

/** The order an event row carries; undefined for a subject that is not an order event. */
export function orderOfEvent(row: OutboxRow): Order | undefined {
  const schema = bySubject.get(row.subject);
  if (!schema) return undefined;
  return (fromBinary(schema, row.payload) as unknown as { order?: Order }).order;
}

/** The orders `caller` may watch: its own, or any for an admin (and a service). */
export function orderSource(tail: OutboxTail, caller: Caller): StateSource<Order> {
  return {
    tail,
    fromEvent: orderOfEvent,
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
