// What the reservation store answers in: reservations as plain records, and the refusals that
// leave everything unchanged.
import { asc, eq } from "drizzle-orm";
import type { ItemQuantity } from "../domain.js";
import { reservationItems, reservations } from "../schema.js";
import type { Executor } from "./db.js";

export type ReservationState = (typeof reservations.$inferSelect)["state"];

export interface ReservationRecord {
  orderId: string;
  state: ReservationState;
  items: ItemQuantity[];
  createTime: Date;
  expireTime: Date;
}

export interface Shortage {
  productId: string;
  available: number;
  requested: number;
}

/** Why the store said no; nothing was changed. */
export type ReservationRefusal =
  /** Some products of a reservation do not exist. */
  | { reason: "unknown-products"; productIds: string[] }
  /** Some products have too little stock. */
  | { reason: "insufficient-stock"; shortages: Shortage[] }
  | { reason: "no-reservation" }
  /** The reservation is already in a state the change cannot leave. */
  | { reason: "wrong-state"; state: ReservationState };

export type ReservationOutcome =
  | { reservation: ReservationRecord }
  | { refused: ReservationRefusal };

/** A reserved product as it was priced when its stock was taken: the order's snapshot. */
export interface ReservedProduct {
  productId: string;
  name: string;
  description: string;
  unitPriceCents: number;
}

export type ReserveOutcome =
  | { reservation: ReservationRecord; products: ReservedProduct[] }
  | { refused: ReservationRefusal };

export async function readReservation(
  db: Executor,
  orderId: string,
): Promise<ReservationRecord | undefined> {
  const [row] = await db.select().from(reservations).where(eq(reservations.orderId, orderId));
  if (!row) return undefined;
  const items = await db
    .select({ productId: reservationItems.productId, quantity: reservationItems.quantity })
    .from(reservationItems)
    .where(eq(reservationItems.orderId, orderId))
    .orderBy(asc(reservationItems.productId));
  return {
    orderId: row.orderId,
    state: row.state,
    items,
    createTime: row.createTime,
    expireTime: row.expireTime,
  };
}
