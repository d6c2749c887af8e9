// The order service's domain events (proto/bazaar/order/v1/events.proto), encoded for the
// outbox before the statement that records them (store.ts confirm).
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { OrderPlacedSchema } from "../../gen/bazaar/order/v1/events_pb.js";
import { draftEvent, type EventDraft } from "../../platform/events/record.js";
import type { OrderRecord } from "./records.js";

/** The order as events carry it: the same fields as service.ts's toOrder. */
function order(record: OrderRecord) {
  return {
    id: record.id,
    accountId: record.accountId,
    items: record.items.map((item) => ({
      productId: item.productId,
      name: item.name,
      description: item.description,
      unitPriceCents: item.unitPriceCents,
      quantity: item.quantity,
    })),
    totalCents: record.totalCents,
    createTime: timestampFromDate(record.createTime),
  };
}

/** OrderPlaced, numbered by the confirming statement (always the order's event 1). */
export function orderPlacedDraft(record: OrderRecord): EventDraft {
  return draftEvent(OrderPlacedSchema, record.id, { orderId: record.id, order: order(record) });
}
