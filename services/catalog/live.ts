// WatchStock's source: each product's stock from the StockChanged events in the catalog's outbox,
// and as it is now from product_stock.
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { inArray } from "drizzle-orm";
import { StockUpdateSchema } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import type { OutboxTail } from "../../platform/events/tail.js";
import type { StateSource } from "../../platform/events/watch.js";
import { productStock } from "./schema.js";

/** The outbox subjects WatchStock shows. */
export const stockSubjects = ["bazaar.catalog.v1.StockChanged"] as const;

/** What WatchStock needs of a StockChanged event: the product's new stock. */
export type StockEventDecoder = (payload: Uint8Array) => { productId: string; stock: number };

/**
 * Until events.proto lands, a StockChanged row's payload is read as a StockUpdate (the same
 * field numbers would not be: the integrator swaps this for
 * `(payload) => fromBinary(StockChangedSchema, payload)` from gen/bazaar/catalog/v1/events_pb.js,
 * whose product_id and stock are what is read here).
 */
export const decodeStockChanged: StockEventDecoder = (payload) =>
  fromBinary(StockUpdateSchema, payload);

export function stockSource(
  tail: OutboxTail,
  decode: StockEventDecoder = decodeStockChanged,
): StateSource<number> {
  return {
    tail,
    fromEvent: (row) => decode(row.payload).stock,
    read: async (tx, ids) => {
      const rows = await tx
        .select()
        .from(productStock)
        .where(inArray(productStock.productId, [...ids]));
      return new Map(rows.map((row) => [row.productId, row.stock]));
    },
    notFound: (ids) =>
      new ConnectError(
        ids.length === 1 ? `product ${ids[0]} not found` : `products not found: ${ids.join(", ")}`,
        Code.NotFound,
      ),
  };
}
