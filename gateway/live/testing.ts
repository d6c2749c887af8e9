// A gateway whose only backend is a real live catalog (services/catalog/live-testing.ts), for
// the subscription tests: the account and order URLs point nowhere, as none of them needs one.
import { createLogger } from "../../platform/observability/logger.js";
import { type LiveCatalog, startLiveCatalog } from "../../services/catalog/live-testing.js";
import { createTransports } from "../clients.js";
import { loadGatewayConfig } from "../config.js";
import { createGateway, type Gateway } from "../server.js";

export interface LiveGateway {
  catalog: LiveCatalog;
  gateway: Gateway;
  /** Closes the gateway, its transports and the catalog, in that order. */
  close(): Promise<void>;
}

/** A gateway over the catalog at `catalogUrl` (not listening); `close` also closes its transports. */
export function gatewayOver(catalogUrl: string): { gateway: Gateway; close(): Promise<void> } {
  const config = loadGatewayConfig({
    PORT: "0",
    LOG_LEVEL: "silent",
    CATALOG_URL: catalogUrl,
    ACCOUNT_URL: "http://127.0.0.1:1",
    ORDER_URL: "http://127.0.0.1:1",
  });
  const made = createTransports(config);
  const gateway = createGateway({
    config,
    transports: made.transports,
    logger: createLogger({ service: "test", level: "silent", pretty: false }),
    ready: async () => ({}) as never,
  });
  return {
    gateway,
    async close() {
      await gateway.close();
      made.close();
    },
  };
}

/** A catalog with products of these stocks, and a gateway over it (not listening). */
export async function startLiveGateway(stocks: readonly number[]): Promise<LiveGateway> {
  const catalog = await startLiveCatalog([...stocks]);
  const { gateway, close } = gatewayOver(catalog.url);
  return {
    catalog,
    gateway,
    async close() {
      await close();
      await catalog.close();
    },
  };
}
