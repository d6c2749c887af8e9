// The order service's composition root: config → database → peers → routes → serve →
// recovery → stop.
import { fileURLToPath } from "node:url";
import { file_bazaar_order_v1_order } from "../../gen/bazaar/order/v1/order_pb.js";
import { type HostedService, hostService } from "../../platform/host.js";
import type { Logger } from "../../platform/logger.js";
import { isEntryPoint, runProcess } from "../../platform/runtime.js";
import { loadOrderConfig, type OrderConfig } from "./config.js";
import { createPeers, httpPeerTransports, type Peers } from "./peers.js";
import { RecoveryLoop, type RecoveryReport } from "./recovery.js";
import * as schema from "./schema.js";
import { orderRoutes } from "./service.js";
import { OrderStore } from "./store.js";

export interface OrderService extends HostedService<typeof schema> {
  /** Runs order recovery now (it also runs at start and every RECOVERY_INTERVAL_MS). */
  recover(): Promise<RecoveryReport>;
}

// Recovery leaves alone what a live request may still be settling.
const settleAfterMs = 2_000;

export async function startOrderService(
  config: OrderConfig,
  options: { logger?: Logger; peers?: Peers } = {},
): Promise<OrderService> {
  let peers: Peers | undefined = options.peers;
  let recovery: RecoveryLoop | undefined;
  const hosted = await hostService({
    name: "order",
    config,
    schema,
    migrationsFolder: fileURLToPath(new URL("./drizzle", import.meta.url)),
    files: [file_bazaar_order_v1_order],
    serviceNames: ["bazaar.order.v1.OrderService"],
    ...(options.logger ? { logger: options.logger } : {}),
    routes: async ({ database, authority, logger }) => {
      const store = new OrderStore(database.db);
      peers ??= createPeers(httpPeerTransports(config), {
        token: authority.serviceTokenSource("order"),
        timeoutMs: config.PEER_TIMEOUT_MS,
      });
      recovery = new RecoveryLoop(
        {
          store,
          peers,
          logger,
          abandonedAfterMs: config.RECOVERY_AFTER_MS,
          settleAfterMs: Math.min(settleAfterMs, config.RECOVERY_AFTER_MS),
        },
        config.RECOVERY_INTERVAL_MS,
      );
      return orderRoutes({
        store,
        peers,
        logger,
        // A duplicate waits about as long as a whole saga may take.
        duplicateWaitMs: 4 * config.PEER_TIMEOUT_MS + 5_000,
      });
    },
    beforeClose: async () => {
      await recovery?.stop();
      // Peers handed in belong to the caller; only close what we opened.
      if (!options.peers) await peers?.close();
    },
  });
  const loop = recovery as RecoveryLoop | undefined;
  if (!loop) throw new Error("order routes were not built");
  loop.start();
  return { ...hosted, recover: () => loop.runOnce() };
}

if (isEntryPoint(import.meta.url)) {
  await runProcess("order", async () => startOrderService(loadOrderConfig()));
}
