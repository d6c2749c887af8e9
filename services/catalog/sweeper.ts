// The reservation sweeper: a pending reservation whose order neither committed nor released
// it in time (the order service crashed, say) gives its stock back.
import type { Logger } from "../../platform/logger.js";
import { Loop } from "../../platform/worker.js";
import { type CatalogStore, ReservationStateError } from "./store.js";

const batchSize = 100;

/**
 * Releases the reservations expired at `now`; returns their order ids. Safe next to the
 * order service and to other replicas: a release only ever moves a still-pending one.
 */
export async function sweepExpiredReservations(
  store: CatalogStore,
  now: Date = new Date(),
  limit = batchSize,
): Promise<string[]> {
  const released: string[] = [];
  for (const orderId of await store.expiredReservations(now, limit)) {
    try {
      const record = await store.releaseReservation(orderId);
      if (record.state === "released") released.push(orderId);
    } catch (error) {
      // Committed between our read and the release: sold, nothing to give back.
      if (!(error instanceof ReservationStateError)) throw error;
    }
  }
  return released;
}

/** The sweeper as a worker: a pass every `intervalMs`, at once again while a batch was full. */
export function sweeperWorker(
  store: CatalogStore,
  intervalMs: number,
  logger: Logger,
): Loop<number> {
  return new Loop({
    name: "reservation sweeper",
    intervalMs,
    logger,
    pass: async () => {
      const released = await sweepExpiredReservations(store);
      if (released.length > 0) {
        logger.info({ orderIds: released }, `released ${released.length} expired reservations`);
      }
      return released.length;
    },
    more: (released) => released >= batchSize,
  });
}
