// WatchStock's source: each product's stock from the StockChanged events in the catalog's outbox,
// and as it is now from product_stock.
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { inArray } from "drizzle-orm";
import { StockChangedSchema } from "../../gen/bazaar/catalog/v1/events_pb.js";
import type { OutboxTail } from "../../platform/events/tail.js";
import type { StateSource } from "../../platform/events/watch.js";
import { productStock } from "./schema.js";

/** The outbox subjects WatchStock shows. */
export const stockSubjects = [StockChangedSchema.typeName] as const;

export function stockSource(tail: OutboxTail): StateSource<number> {
  return {
    tail,
    // The tail reads StockChanged rows only; the stock is the product's after the change.
    fromEvent: (row) => fromBinary(StockChangedSchema, row.payload).stock,
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
