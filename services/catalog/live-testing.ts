// Test support for WatchStock: a catalog serving it on a real one-port server over a scratch
// database, whose stock changes go through its own RPCs (UpdateProduct as an admin), so the
// catalog writes its StockChanged events itself.
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CatalogService } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import type { TestAuthority } from "../../platform/auth/auth-testing.js";
import type { DatabaseHandle } from "../../platform/data/database.js";
import { uuidv7 } from "../../platform/data/ids.js";
import { OutboxTail } from "../../platform/events/tail.js";
import { StreamLimits } from "../../platform/events/watch.js";
import { type RunningServer, serve } from "../../platform/http/server.js";
import { createLogger } from "../../platform/observability/logger.js";
import { createMetrics } from "../../platform/observability/metrics.js";
import { bearer, openTestDatabase, testAuthority } from "../../platform/testing.js";
import { migrationsFolder } from "./config.js";
import { stockSource, stockSubjects } from "./live.js";
import * as catalogSchema from "./schema.js";
import { catalogRoutes } from "./service.js";
import { CatalogStore } from "./store.js";

type schema = typeof catalogSchema;

/** Sets a product's stock through `client`'s UpdateProduct as an admin (a restock). */
export async function setStock(
  client: Client<typeof CatalogService>,
  authority: TestAuthority,
  productId: string,
  stock: number,
): Promise<void> {
  const { token } = await authority.issueUserToken(uuidv7(), "admin", 600);
  await client.updateProduct({ id: productId, stock }, bearer(token));
}

/** A catalog serving WatchStock on a real one-port server over a scratch database. */
export interface LiveCatalog {
  database: DatabaseHandle<schema>;
  tail: OutboxTail;
  products: string[];
  server: RunningServer;
  url: string;
  /** Sets a product's stock through this replica's UpdateProduct, as an admin. */
  setStock(productId: string, stock: number): Promise<void>;
  /** Stops the server (a restart: `start()` serves again on the same port). */
  stopServer(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Opens a database with `stocks.length` products (their stock as given) and serves it. */
export async function startLiveCatalog(
  stocks: readonly number[],
  options: { authority?: TestAuthority; database?: DatabaseHandle<schema> } = {},
): Promise<LiveCatalog> {
  const database =
    options.database ?? (await openTestDatabase({ schema: catalogSchema, migrationsFolder }));
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
    setStock: (productId, stock) =>
      setStock(
        createClient(
          CatalogService,
          createConnectTransport({ baseUrl: live.url, httpVersion: "1.1" }),
        ),
        authority,
        productId,
        stock,
      ),
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
