// The order service's records: attempts and confirmed orders as the store hands them out, and
// how a failure's reason is kept in its row.
import type { Fulfilment, OrderFailure, PeerName, PricedItem } from "./domain.js";
import type * as schema from "./schema.js";

export type OrderRow = typeof schema.orders.$inferSelect;
export type OrderStatus = OrderRow["status"];
export type { Fulfilment };

/** One attempt at an order, whatever its status, without its items. */
export type OrderAttempt = Omit<
  OrderRow,
  "failureCode" | "failureMessage" | "failureProductId" | "owner"
> & {
  /** Why it failed, when its status is failed. */
  failure: OrderFailure | undefined;
};

/** A confirmed order with its items as they were placed, and where it is now. */
export interface OrderRecord {
  id: string;
  accountId: string;
  totalCents: bigint;
  createTime: Date;
  items: PricedItem[];
  /** The API's status: placed, shipped or cancelled. */
  fulfilment: Fulfilment;
  /** When it last changed: placed, shipped or cancelled. */
  updateTime: Date;
  cancelReason: string | null;
}

export type BeginResult =
  | { created: true; attempt: OrderAttempt }
  | { created: false; existing: OrderAttempt };

// A failure is stored as a reason name in failure_code, plus the product it names. Rows
// failed before reasons were stored hold a Connect code name there instead and read back as
// internal; failure_message is no longer written.
const peerReasons = {
  "account-unavailable": { peer: "account", timedOut: false },
  "account-timed-out": { peer: "account", timedOut: true },
  "catalog-unavailable": { peer: "catalog", timedOut: false },
  "catalog-timed-out": { peer: "catalog", timedOut: true },
} as const satisfies Record<string, { peer: PeerName; timedOut: boolean }>;

export function failureColumns(failure: OrderFailure) {
  const columns = (failureCode: string, productId?: string | undefined) => ({
    failureCode,
    failureMessage: null,
    failureProductId: productId ?? null,
  });
  switch (failure.reason) {
    case "peer-unavailable":
      return columns(`${failure.peer}-${failure.timedOut ? "timed-out" : "unavailable"}`);
    case "product-not-found":
      return columns(failure.reason, failure.productIds[0]);
    case "out-of-stock":
      return columns(failure.reason, failure.productId);
    default:
      return columns(failure.reason);
  }
}

export function toAttempt(row: OrderRow): OrderAttempt {
  const { failureCode, failureMessage: _, failureProductId, owner: __, ...attempt } = row;
  return {
    ...attempt,
    failure: row.status === "failed" ? storedFailure(failureCode, failureProductId) : undefined,
  };
}

function storedFailure(code: string | null, productId: string | null): OrderFailure {
  if (code !== null && code in peerReasons) {
    return { reason: "peer-unavailable", ...peerReasons[code as keyof typeof peerReasons] };
  }
  switch (code) {
    case "product-not-found":
      return { reason: code, productIds: productId ? [productId] : [] };
    case "out-of-stock":
      return { reason: code, productId: productId ?? undefined };
    case "account-not-found":
    case "abandoned":
    case "overtaken":
    case "still-placing":
      return { reason: code };
    default:
      return { reason: "internal" };
  }
}
