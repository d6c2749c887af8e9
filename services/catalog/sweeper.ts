// The reservation sweeper: a pending reservation whose order neither committed nor released
// it in time (the order service crashed, say) gives its stock back.
import type { Logger } from "../../platform/logger.js";
import { Loop } from "../../platform/worker.js";
import type { ReservationStore } from "./store.js";

const batchSize = 100;

/**
 * Releases the reservations expired at `now`; returns their order ids. Safe next to the
 * order service and to other replicas: a release only ever moves a still-pending one.
 */
export async function sweepExpiredReservations(
  reservations: ReservationStore,
  now: Date = new Date(),
  limit = batchSize,
): Promise<string[]> {
  const released: string[] = [];
  for (const orderId of await reservations.expired(now, limit)) {
    const outcome = await reservations.releaseStock(orderId);
    // A refusal means it was committed between our read and the release: sold, nothing to
    // give back.
    if ("reservation" in outcome && outcome.reservation.state === "released") {
      released.push(orderId);
    }
  }
  return released;
}

/** The sweeper as a worker: a pass every `intervalMs`, at once again while a batch was full. */
export function sweeperWorker(
  reservations: ReservationStore,
  intervalMs: number,
  logger: Logger,
): Loop<number> {
  return new Loop({
    name: "reservation sweeper",
    intervalMs,
    logger,
    pass: async () => {
      const released = await sweepExpiredReservations(reservations);
      if (released.length > 0) {
        logger.info({ orderIds: released }, `released ${released.length} expired reservations`);
      }
      return released.length;
    },
    more: (released) => released >= batchSize,
  });
}
