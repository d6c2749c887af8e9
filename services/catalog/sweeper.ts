// The reservation sweeper. A pending reservation past its expiry belongs to an order whose
// commit or release never arrived: the order service crashed, froze or was cut off. The order
// service decides what the order became, so the sweeper asks it (GetOrderOutcome) and commits
// (CONFIRMED), releases (FAILED, or an order it never wrote) or waits (PENDING, or no answer).
// A timer alone never gives stock back: while the order service cannot answer, the stock stays
// held, retried with backoff, and /metrics shows how much and for how long.
import { Gauge, type Registry } from "prom-client";
import type { Logger } from "../../platform/observability/logger.js";
import { Loop } from "../../platform/worker.js";
import type { OrderOutcomes } from "./order-outcomes.js";
import type { ReservationStore } from "./store.js";

const batchSize = 100;

export interface SweepOptions {
  /** The reservation TTL: a pending reservation older than this is in doubt. */
  ttlSeconds: number;
  /** Bounds of the wait before an in-doubt reservation is asked about again. */
  minWaitSeconds?: number;
  maxWaitSeconds?: number;
  limit?: number;
}

export interface SweepReport {
  committed: string[];
  released: string[];
  /** Still pending: the order is still being placed, or the order service did not answer. */
  waiting: string[];
}

/**
 * One pass over the reservations expired at `now`. Safe next to the order service and other
 * replicas: claims are SKIP LOCKED, and commit and release only ever move a pending one.
 */
export async function sweepExpiredReservations(
  reservations: ReservationStore,
  outcomes: OrderOutcomes,
  options: SweepOptions,
  now: Date = new Date(),
): Promise<SweepReport> {
  const report: SweepReport = { committed: [], released: [], waiting: [] };
  const claimed = await reservations.claimExpired(now, options.limit ?? batchSize, {
    ttlSeconds: options.ttlSeconds,
    minWaitSeconds: options.minWaitSeconds ?? 10,
    maxWaitSeconds: options.maxWaitSeconds ?? 300,
  });
  let unreachable = false;
  for (const orderId of claimed) {
    // Once the order service gave no answer, the rest of the batch waits too: asking each
    // one would cost a whole deadline apiece and answer nothing new.
    const outcome = unreachable
      ? undefined
      : await outcomes(orderId).catch(() => {
          unreachable = true;
          return undefined;
        });
    if (outcome === "confirmed") {
      const done = await reservations.commit(orderId);
      if ("reservation" in done && done.reservation.state === "committed") {
        report.committed.push(orderId);
      }
    } else if (outcome === "failed" || outcome === "unknown") {
      const done = await reservations.releaseStock(orderId);
      // A refusal means it was committed between our claim and the release: sold.
      if ("reservation" in done && done.reservation.state === "released") {
        report.released.push(orderId);
      }
    } else {
      report.waiting.push(orderId);
    }
  }
  return report;
}

/** The sweeper as a worker: a pass every `intervalMs`, at once again while a batch was full. */
export function sweeperWorker(deps: {
  reservations: ReservationStore;
  outcomes: OrderOutcomes;
  options: SweepOptions;
  intervalMs: number;
  logger: Logger;
  registry: Registry;
}): Loop<SweepReport> {
  const { reservations, logger, options } = deps;
  const units = new Gauge({
    name: "catalog_reservations_in_doubt_units",
    help: "Units held by pending reservations past their TTL whose order's outcome is not known yet.",
    registers: [deps.registry],
  });
  const seconds = new Gauge({
    name: "catalog_reservations_in_doubt_oldest_seconds",
    help: "How long the oldest in-doubt reservation has been past its TTL.",
    registers: [deps.registry],
  });
  return new Loop({
    name: "reservation sweeper",
    intervalMs: deps.intervalMs,
    logger,
    pass: async () => {
      const report = await sweepExpiredReservations(reservations, deps.outcomes, options);
      const { committed, released, waiting } = report;
      if (committed.length + released.length > 0) {
        logger.info({ committed, released }, "settled expired reservations with the order service");
      }
      if (waiting.length > 0) {
        logger.warn({ orderIds: waiting }, `${waiting.length} expired reservations stay in doubt`);
      }
      const doubt = await reservations.inDoubt(new Date(), options.ttlSeconds);
      units.set(doubt.units);
      seconds.set(doubt.oldestSeconds);
      return report;
    },
    more: (report) =>
      report.committed.length + report.released.length + report.waiting.length >= batchSize,
  });
}
