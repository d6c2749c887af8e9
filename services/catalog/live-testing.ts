// Test support for WatchStock until the catalog writes StockChanged itself: a stock change and
// its outbox row in one transaction, as the service will write them.
import { create, toBinary } from "@bufbuild/protobuf";
import { eq, sql } from "drizzle-orm";
import { StockUpdateSchema } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import type { Database } from "../../platform/data/database.js";
import { insertOutboxRow } from "../../platform/events/tail-testing.js";
import { stockSubjects } from "./live.js";
import type * as schema from "./schema.js";
import { productStock } from "./schema.js";

/** Sets a product's stock and records its StockChanged; resolves with the event's sequence. */
export function changeStock(
  db: Database<typeof schema>,
  productId: string,
  stock: number,
): Promise<number> {
  return db.transaction(async (tx) => {
    await tx.update(productStock).set({ stock }).where(eq(productStock.productId, productId));
    return insertOutboxRow(tx as never, {
      subject: stockSubjects[0],
      thingId: productId,
      payload: toBinary(StockUpdateSchema, create(StockUpdateSchema, { productId, stock })),
    });
  });
}

/** Takes `quantity` of a product's stock (an order), recording the change; the new stock. */
export function takeStock(
  db: Database<typeof schema>,
  productId: string,
  quantity: number,
): Promise<number> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .update(productStock)
      .set({ stock: sql`${productStock.stock} - ${quantity}` })
      .where(eq(productStock.productId, productId))
      .returning({ stock: productStock.stock });
    const stock = row?.stock ?? 0;
    await insertOutboxRow(tx as never, {
      subject: stockSubjects[0],
      thingId: productId,
      payload: toBinary(StockUpdateSchema, create(StockUpdateSchema, { productId, stock })),
    });
    return stock;
  });
}
