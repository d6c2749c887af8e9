// The order service's composition root: config → base → parts (store, peers, the recovery
// worker) → serve.
import { hostname } from "node:os";
import { OrderService } from "../../gen/bazaar/order/v1/order_pb.js";
import { tokenVersionsFromConfig } from "../../platform/auth/token-versions.js";
import { uuidv7 } from "../../platform/data/ids.js";
import { liveParts } from "../../platform/events/live.js";
import { type HostedService, openBase } from "../../platform/host.js";
import { defaultConnectionLimits } from "../../platform/http/connection-limits.js";
import type { Logger } from "../../platform/observability/logger.js";
import { isEntryPoint, runProcess } from "../../platform/runtime.js";
import { loadOrderConfig, migrationsFolder, type OrderConfig } from "./config.js";
import { orderSubjects } from "./live.js";
import { httpPeerTransports } from "./peer-transport.js";
import { createPeers, type Peers } from "./peers.js";
import { type RecoveryReport, recoveryWorker } from "./recovery.js";
import * as schema from "./schema.js";
import { orderRoutes } from "./service.js";
import { OrderStore } from "./store.js";

export interface HostedOrderService extends HostedService<typeof schema> {
  /** Runs order recovery now (it also runs at start and every RECOVERY_INTERVAL_MS). */
  recover(): Promise<RecoveryReport>;
}

// Recovery leaves alone what a live request may still be settling.
const settleAfterMs = 2_000;

export async function startOrderService(
  config: OrderConfig,
  options: { logger?: Logger; peers?: Peers } = {},
): Promise<HostedOrderService> {
  const base = await openBase(config, {
    name: "order",
    schema,
    migrationsFolder,
    logger: options.logger,
    tokenVersions: tokenVersionsFromConfig(config, config.PEER_TIMEOUT_MS),
  });
  const { logger } = base;
  const store = new OrderStore(base.database.db, {
    owner: {
      instance:
        config.INSTANCE_ID ?? (config.PORT === 0 ? uuidv7() : `${hostname()}:${config.PORT}`),
      boot: uuidv7(),
    },
  });
  const peers =
    options.peers ??
    createPeers(httpPeerTransports(config), {
      token: base.signer.serviceTokenSource(),
      timeoutMs: config.PEER_TIMEOUT_MS,
    });
  const recovery = recoveryWorker(
    {
      store,
      peers,
      logger,
      abandonedAfterMs: config.RECOVERY_AFTER_MS,
      settleAfterMs: Math.min(settleAfterMs, config.RECOVERY_AFTER_MS),
      // A reserve sent just before an order failed lands within its deadline.
      lateReserveMs: 2 * config.PEER_TIMEOUT_MS,
    },
    config.RECOVERY_INTERVAL_MS,
  );
  const live = liveParts(config, base.database.db, orderSubjects, logger);
  const hosted = await base.serve({
    services: [OrderService],
    routes: orderRoutes({
      store,
      peers,
      logger,
      // A duplicate waits about as long as a whole saga may take.
      duplicateWaitMs: 4 * config.PEER_TIMEOUT_MS + 5_000,
      live,
    }),
    maxOpenStreams: defaultConnectionLimits.maxOpenStreams + config.LIVE_MAX_STREAMS,
    workers: [recovery, live.tail],
    // Peers handed in belong to the caller; only close what we opened.
    resources: options.peers ? [] : [peers],
  });
  return { ...hosted, recover: () => recovery.runOnce() };
}

if (isEntryPoint(import.meta.url)) {
  await runProcess("order", async () => startOrderService(loadOrderConfig()));
}
