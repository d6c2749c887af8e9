// Finishing what a saga left half done (see saga.ts): a PENDING order whose process died is
// failed and its stock released; a CONFIRMED order whose commit did not reach the catalog is
// committed; a FAILED order whose release did not reach it is released. And what a cancel left
// half done (lifecycle.ts): a cancelled order whose stock the catalog has not taken back gets
// it returned. Runs at start and then periodically; every step is idempotent, so replicas
// running it at once do no harm.
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "../../platform/observability/logger.js";
import { Loop } from "../../platform/worker.js";
import { returnStock } from "./lifecycle.js";
import type { Peers } from "./peers.js";
import type { OrderStore } from "./store.js";

export interface RecoveryDeps {
  store: OrderStore;
  peers: Peers;
  logger: Logger;
  /** A PENDING order older than this was abandoned. */
  abandonedAfterMs: number;
  /** An unsettled order untouched for this long is no longer being settled by its request. */
  settleAfterMs: number;
  /**
   * How long after an order failed a reserve sent for it may still reach the catalog (a few
   * PEER_TIMEOUT_MS). Until then "no such reservation" is no proof that none will exist, so
   * the release is retried; afterwards a reserve that lands anyway is the catalog sweeper's to
   * release (it asks us and hears FAILED). Default 0: NOT_FOUND settles at once.
   */
  lateReserveMs?: number;
}

export interface RecoveryReport {
  /** Abandoned PENDING orders marked FAILED. */
  failed: number;
  /** Reservations of FAILED orders released. */
  released: number;
  /** Reservations of CONFIRMED orders committed. */
  committed: number;
  /** Stock of cancelled orders returned. */
  returned: number;
  /** Orders still unsettled (the catalog did not answer); the next run tries again. */
  remaining: number;
}

const batch = 100;

export async function recoverOrders(deps: RecoveryDeps): Promise<RecoveryReport> {
  const { store, peers, logger } = deps;
  const report: RecoveryReport = {
    failed: 0,
    released: 0,
    committed: 0,
    returned: 0,
    remaining: 0,
  };
  for (;;) {
    // A predecessor's attempts at once; anyone else's only once surely abandoned.
    const abandoned = [
      ...(await store.attempts.failPredecessors(batch)),
      ...(await store.attempts.failAbandoned(deps.abandonedAfterMs, batch)),
    ];
    report.failed += abandoned.length;
    for (const order of abandoned) {
      logger.warn({ orderId: order.id }, "failed an order abandoned mid-saga");
    }
    if (abandoned.length < batch) break;
  }
  const seen = new Set<string>();
  for (;;) {
    const unsettled = (await store.attempts.unsettled(deps.settleAfterMs, batch)).filter(
      (order) => !seen.has(order.id),
    );
    if (unsettled.length === 0) break;
    for (const order of unsettled) {
      seen.add(order.id);
      try {
        if (order.status === "confirmed") {
          await commit(peers, order.id, logger);
          report.committed++;
        } else {
          const maybeLate = Date.now() - order.updateTime.getTime() < (deps.lateReserveMs ?? 0);
          if (!(await release(peers, order.id, maybeLate))) {
            report.remaining++;
            continue;
          }
          report.released++;
        }
        await store.attempts.markSettled(order.id);
      } catch (error) {
        report.remaining++;
        const unavailable = ConnectError.from(error).code === Code.Unavailable;
        logger[unavailable ? "warn" : "error"](
          { err: error, orderId: order.id, status: order.status },
          "could not settle an order's reservation; will retry",
        );
      }
    }
  }
  await returnCancelled(deps, report);
  if (report.failed + report.released + report.committed + report.returned + report.remaining > 0) {
    logger.info(report, "order recovery");
  }
  return report;
}

/** Cancelled orders whose stock is not back yet: returned, each at most once per pass. */
async function returnCancelled(deps: RecoveryDeps, report: RecoveryReport): Promise<void> {
  const { store, peers, logger } = deps;
  const seen = new Set<string>();
  for (;;) {
    const pending = (await store.fulfilment.pendingReturns(deps.settleAfterMs, batch)).filter(
      (order) => !seen.has(order.id),
    );
    if (pending.length === 0) break;
    for (const order of pending) {
      seen.add(order.id);
      try {
        await returnStock(deps, order, peers.callOptions(""), logger);
        report.returned++;
      } catch (error) {
        report.remaining++;
        const unavailable = ConnectError.from(error).code === Code.Unavailable;
        logger[unavailable ? "warn" : "error"](
          { err: error, orderId: order.id },
          "could not return a cancelled order's stock; will retry",
        );
      }
    }
  }
}

async function commit(peers: Peers, orderId: string, logger: Logger): Promise<void> {
  try {
    await peers.catalog.commitReservation({ orderId }, peers.callOptions(""));
  } catch (error) {
    if (ConnectError.from(error).code !== Code.FailedPrecondition) throw error;
    // The catalog's sweeper released it first: only a commit delayed past the reservation's
    // TTL (RESERVATION_TTL_SECONDS, 15 min by default) gets here. Retrying cannot help.
    logger.error(
      { err: error, orderId },
      "a confirmed order's reservation had expired in the catalog; its stock went back",
    );
  }
}

/** True once the reservation is released, or none can still appear (see lateReserveMs). */
async function release(peers: Peers, orderId: string, maybeLate: boolean): Promise<boolean> {
  try {
    await peers.catalog.releaseStock({ orderId }, peers.callOptions(""));
    return true;
  } catch (error) {
    if (ConnectError.from(error).code !== Code.NotFound) throw error;
    // No reservation under this id yet: a reserve still in flight may make one.
    return !maybeLate;
  }
}

/** Recovery as a worker: at start, then every `intervalMs` (0: only at start). */
export function recoveryWorker(deps: RecoveryDeps, intervalMs: number): Loop<RecoveryReport> {
  return new Loop({
    name: "order recovery",
    intervalMs,
    runAtStart: true,
    logger: deps.logger,
    pass: () => recoverOrders(deps),
  });
}
