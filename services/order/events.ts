// The order service's domain events (proto/bazaar/order/v1/events.proto), encoded for the
// outbox before the statement that records them: OrderPlaced in the confirm statement
// (store/attempts.ts), OrderCancelled and OrderShipped in the transition's transaction
// (store/fulfilment.ts). Each carries the order as it now is.
import {
  OrderCancelledSchema,
  OrderPlacedSchema,
  OrderShippedSchema,
} from "../../gen/bazaar/order/v1/events_pb.js";
import {
  draftEvent,
  type EventDraft,
  type EventRecord,
  newEvent,
} from "../../platform/events/record.js";
import { toOrder } from "./messages.js";
import type { OrderRecord } from "./records.js";

/** OrderPlaced, numbered by the confirming statement (always the order's event 1). */
export function orderPlacedDraft(record: OrderRecord): EventDraft {
  return draftEvent(
    OrderPlacedSchema,
    record.id,
    { orderId: record.id, order: toOrder(record) },
    { now: record.updateTime },
  );
}

/** OrderCancelled or OrderShipped: the order after the change, its `sequence`-th event. */
export function transitionEvent(record: OrderRecord, sequence: number): EventRecord {
  const fields = { orderId: record.id, order: toOrder(record) };
  return record.fulfilment === "cancelled"
    ? newEvent(OrderCancelledSchema, record.id, sequence, fields, record.updateTime)
    : newEvent(OrderShippedSchema, record.id, sequence, fields, record.updateTime);
}
