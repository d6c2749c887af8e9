// The catalog's domain events (proto/bazaar/catalog/v1/events.proto), encoded for the outbox
// from the store's records. The stores record them with the change (platform/events).
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  ProductCreatedSchema,
  ProductUpdatedSchema,
  StockChangedSchema,
} from "../../gen/bazaar/catalog/v1/events_pb.js";
import {
  draftEvent,
  type EventDraft,
  type EventRecord,
  newEvent,
} from "../../platform/events/record.js";
import type { ProductRecord } from "./store/products.js";

function product(record: ProductRecord) {
  return {
    id: record.id,
    name: record.name,
    description: record.description,
    priceCents: BigInt(record.priceCents),
    stock: record.stock,
    createTime: timestampFromDate(record.createTime),
  };
}

export function productCreated(record: ProductRecord, sequence: number): EventRecord {
  return newEvent(ProductCreatedSchema, record.id, sequence, {
    productId: record.id,
    product: product(record),
  });
}

export function productUpdated(record: ProductRecord, sequence: number): EventRecord {
  return newEvent(ProductUpdatedSchema, record.id, sequence, {
    productId: record.id,
    product: product(record),
  });
}

/** A stock change whose new stock is known (an admin's update, a release). */
export function stockChanged(
  change: { productId: string; stock: number; delta: number; orderId?: string },
  sequence: number,
): EventRecord {
  return newEvent(StockChangedSchema, change.productId, sequence, {
    productId: change.productId,
    stock: change.stock,
    delta: change.delta,
    orderId: change.orderId ?? "",
  });
}

/** Field 5 of StockChanged, which the reserve statement appends (see store/reserve-statement.ts). */
export const stockField = StockChangedSchema.field.stock.number;

/**
 * A stock change whose new stock and sequence only the statement knows (a reservation): the
 * statement appends both (platform/events/record.ts outboxInsertSql), and its occur_time, the
 * instant it takes the stock: a reservation may wait for its batch's turn and the stock rows'
 * locks, and the event tells when the stock changed, not when the order asked.
 */
export function stockChangeDraft(change: {
  productId: string;
  delta: number;
  orderId: string;
}): EventDraft {
  return draftEvent(
    StockChangedSchema,
    change.productId,
    { productId: change.productId, delta: change.delta, orderId: change.orderId },
    { stampedByStatement: true },
  );
}
