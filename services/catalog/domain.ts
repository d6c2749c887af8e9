// The catalog's rules, free of I/O: what a valid request is, and how reservation items merge.
// An order's lines arrive in ReserveStock, so the order limits come from their one owner.
import * as v from "valibot";
import { watchCursor, watchIds } from "../../platform/events/watch.js";
import {
  displayName,
  freeText,
  paginationEntries,
  uuidField,
} from "../../platform/http/validation.js";
import { maxBatchCommits, maxBatchReservations, maxItems, maxQuantity } from "../order/limits.js";

export const maxPriceCents = 100_000_000;
export const maxStock = 1_000_000;

const name = displayName(200);
const description = freeText(5000);
const priceCents = v.pipe(
  v.bigint(),
  v.minValue(1n, `must be 1 to ${maxPriceCents}`),
  v.maxValue(BigInt(maxPriceCents), `must be 1 to ${maxPriceCents}`),
  v.transform(Number),
);
const stock = v.pipe(
  v.number(),
  v.integer(),
  v.minValue(0, `must be 0 to ${maxStock}`),
  v.maxValue(maxStock, `must be 0 to ${maxStock}`),
);

export const createProductRequest = v.object({ name, description, priceCents, stock });

export const getProductRequest = v.object({ id: uuidField });

export const batchGetProductsRequest = v.object({
  ids: v.pipe(v.array(v.string()), v.maxLength(1000, "must hold at most 1000 ids")),
});

export const watchStockRequest = v.object({
  productIds: watchIds,
  cursor: watchCursor,
});

export const listProductsRequest = v.object({
  ...paginationEntries,
  // Query text may be pasted from anywhere; it is only ever a bound parameter.
  query: v.pipe(freeText(500), v.trim()),
});

export const updateProductRequest = v.object({
  id: uuidField,
  name: v.optional(name),
  description: v.optional(description),
  priceCents: v.optional(priceCents),
  stock: v.optional(stock),
});

const reservationItem = v.object({
  productId: uuidField,
  quantity: v.pipe(
    v.number(),
    v.integer(),
    v.minValue(1, `must be 1 to ${maxQuantity}`),
    v.maxValue(maxQuantity, `must be 1 to ${maxQuantity}`),
  ),
});

export const reserveStockRequest = v.object({
  orderId: uuidField,
  items: v.pipe(
    v.array(reservationItem),
    v.minLength(1, `must hold 1 to ${maxItems} items`),
    v.maxLength(maxItems, `must hold 1 to ${maxItems} items`),
  ),
});

export const orderIdRequest = v.object({ orderId: uuidField });

const eachOrderOnce = "must name each order once";
export const batchReserveStockRequest = v.object({
  requests: v.pipe(
    v.array(reserveStockRequest),
    v.minLength(1, `must hold 1 to ${maxBatchReservations} reservations`),
    v.maxLength(maxBatchReservations, `must hold 1 to ${maxBatchReservations} reservations`),
    // Order ids are lower-cased by now: each order gets one answer.
    v.check((list) => new Set(list.map((r) => r.orderId)).size === list.length, eachOrderOnce),
  ),
});

export const batchCommitReservationsRequest = v.object({
  orderIds: v.pipe(
    v.array(uuidField),
    v.minLength(1, `must hold 1 to ${maxBatchCommits} order ids`),
    v.maxLength(maxBatchCommits, `must hold 1 to ${maxBatchCommits} order ids`),
    v.check((ids) => new Set(ids).size === ids.length, eachOrderOnce),
  ),
});

export interface ItemQuantity {
  productId: string;
  quantity: number;
}

/**
 * One entry per product, quantities summed, sorted by product id: every transaction then
 * locks product rows in the same order, so two reservations can never wait on each other.
 */
export function mergeInLockOrder(items: readonly ItemQuantity[]): ItemQuantity[] {
  const merged = new Map<string, number>();
  for (const { productId, quantity } of items) {
    merged.set(productId, (merged.get(productId) ?? 0) + quantity);
  }
  return [...merged]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([productId, quantity]) => ({ productId, quantity }));
}

/** What the caller reads when a product is short: "only 3 left, 5 requested". */
export function shortageText(available: number, requested: number): string {
  return available === 0
    ? `out of stock, ${requested} requested`
    : `only ${available} left, ${requested} requested`;
}
