// Test support for WatchStock until the catalog writes StockChanged itself: a stock change and
// its outbox row in one transaction, as the service will write them; and a catalog serving
// WatchStock on a real server.
import { create, toBinary } from "@bufbuild/protobuf";
import { eq, sql } from "drizzle-orm";
import { CatalogService, StockUpdateSchema } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import type { TokenAuthority } from "../../platform/auth/auth.js";
import type { Database, DatabaseHandle } from "../../platform/data/database.js";
import { OutboxTail } from "../../platform/events/tail.js";
import { createOutboxTable, insertOutboxRow } from "../../platform/events/tail-testing.js";
import { StreamLimits } from "../../platform/events/watch.js";
import { type RunningServer, serve } from "../../platform/http/server.js";
import { createLogger } from "../../platform/observability/logger.js";
import { createMetrics } from "../../platform/observability/metrics.js";
import { openTestDatabase, testAuthority } from "../../platform/testing.js";
import { migrationsFolder } from "./config.js";
import { stockSource, stockSubjects } from "./live.js";
import * as catalogSchema from "./schema.js";
import { productStock } from "./schema.js";
import { catalogRoutes } from "./service.js";
import { CatalogStore } from "./store.js";

type schema = typeof catalogSchema;

/** Sets a product's stock and records its StockChanged; resolves with the event's sequence. */
export function changeStock(
  db: Database<schema>,
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
  db: Database<schema>,
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

/** A catalog serving WatchStock on a real one-port server over a scratch database. */
export interface LiveCatalog {
  database: DatabaseHandle<schema>;
  tail: OutboxTail;
  products: string[];
  server: RunningServer;
  url: string;
  /** Stops the server (a restart: `start()` serves again on the same port). */
  stopServer(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Opens a database with `stocks.length` products (their stock as given) and serves it. */
export async function startLiveCatalog(
  stocks: readonly number[],
  options: { authority?: TokenAuthority; database?: DatabaseHandle<schema> } = {},
): Promise<LiveCatalog> {
  const database =
    options.database ?? (await openTestDatabase({ schema: catalogSchema, migrationsFolder }));
  await createOutboxTable(database.db);
  const store = new CatalogStore(database.db);
  const products: string[] = [];
  if (!options.database) {
    for (const [i, stock] of stocks.entries()) {
      const product = await store.products.create({
        name: `Live product ${i}`,
        description: "",
        priceCents: 100 + i,
        stock,
      });
      products.push(product.id);
    }
  }
  const logger = createLogger({ service: "test", level: "silent", pretty: false });
  const tail = new OutboxTail({
    db: database.db,
    subjects: stockSubjects,
    intervalMs: 20,
    retentionMs: 3_600_000,
    logger,
  });
  tail.start();
  const authority = options.authority ?? testAuthority().authority;
  let port = 0;
  const serveOnce = () =>
    serve({
      routes: catalogRoutes({
        store,
        reservationTtlSeconds: 900,
        live: {
          source: stockSource(tail),
          limits: new StreamLimits({ perProcess: 10_000, perCaller: 1_000, perConnection: 1_000 }),
          settings: { heartbeatMs: 5_000 },
        },
      }),
      files: [CatalogService.file],
      serviceNames: [CatalogService.typeName],
      authority,
      logger,
      metrics: createMetrics("test"),
      ready: async () => {},
      corsOrigins: [/^http:\/\/(localhost|127\.0\.0\.1)(:\d+)?$/],
      maxMessageBytes: 1 << 20,
      host: "127.0.0.1",
      port,
    });
  const live: LiveCatalog = {
    database,
    tail,
    products,
    server: await serveOnce(),
    url: "",
    stopServer: () => live.server.close(200),
    start: async () => {
      live.server = await serveOnce();
    },
    close: async () => {
      await live.server.close(200);
      await tail.stop();
      if (!options.database) await database.close();
    },
  };
  port = live.server.port;
  live.url = live.server.url;
  return live;
}
