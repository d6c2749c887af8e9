// The order service's rules, free of I/O: what a valid request is, who may order and read
// for whom, how repeated products merge, how a total is priced in exact cents, and which
// status changes a placed order allows.
import * as v from "valibot";
import { type Caller, mayActFor } from "../../platform/auth/auth.js";
import { watchCursor, watchIds } from "../../platform/events/watch.js";
import { charLength, paginationEntries, uuidField } from "../../platform/http/validation.js";
import { maxItems, maxQuantity } from "./limits.js";

export const maxBatchAccounts = 1000;

const quantity = v.pipe(
  v.number(),
  v.integer("must be a whole number"),
  v.minValue(1, `must be 1 to ${maxQuantity}`),
  v.maxValue(maxQuantity, `must be 1 to ${maxQuantity}`),
);

/** Empty means "the caller"; anything else must be an account id. */
const optionalAccountId = v.union(
  [v.literal(""), uuidField],
  "must be an account id (a UUID) or empty for yourself",
);

export const createOrderRequest = v.object({
  accountId: optionalAccountId,
  items: v.pipe(
    v.array(v.object({ productId: uuidField, quantity })),
    v.minLength(1, "must hold at least one item"),
    v.maxLength(maxItems, `must hold at most ${maxItems} items`),
  ),
  idempotencyKey: v.pipe(
    v.string(),
    v.trim(),
    v.maxLength(200, "must be at most 200 characters"),
    v.regex(/^[\x21-\x7e]*$/, "must be printable ASCII without spaces"),
  ),
});

export const getOrderRequest = v.object({ id: uuidField });

export const watchOrdersRequest = v.object({ orderIds: watchIds, cursor: watchCursor });

export const getOrderOutcomeRequest = v.object({ orderId: uuidField });

export const listOrdersForAccountRequest = v.object({ accountId: uuidField });

export const maxCancelReason = 500;

export const cancelOrderRequest = v.object({
  id: uuidField,
  // Optional; control characters are refused for every string by validate().
  reason: v.pipe(v.string(), v.trim(), charLength(0, maxCancelReason)),
});

export const shipOrderRequest = v.object({ id: uuidField });

/** ListOrders: a status as the proto's OrderStatus number (0: every status) and a page. */
export const listOrdersRequest = v.object({
  status: v.picklist([0, 1, 2, 3], "must be a known order status"),
  ...paginationEntries,
});

export const batchListOrdersForAccountsRequest = v.object({
  accountIds: v.pipe(
    v.array(v.string()),
    v.maxLength(maxBatchAccounts, `must hold at most ${maxBatchAccounts} ids`),
  ),
});

export interface LineItem {
  productId: string;
  quantity: number;
}

/**
 * The same product twice becomes one line with the summed quantity, in first-seen order.
 * A merged line may exceed the per-line limit; the result says which product did.
 */
export function mergeLines(
  items: readonly LineItem[],
): { items: LineItem[] } | { tooMany: LineItem } {
  const merged = new Map<string, LineItem>();
  for (const item of items) {
    const line = merged.get(item.productId);
    if (line) line.quantity += item.quantity;
    else merged.set(item.productId, { ...item });
  }
  for (const line of merged.values()) {
    if (line.quantity > maxQuantity) return { tooMany: line };
  }
  return { items: [...merged.values()] };
}

/** The account an order is placed for, or why the caller may not place it. */
export function orderingAccount(
  caller: Exclude<Caller, { kind: "anonymous" }>,
  requested: string,
): { accountId: string } | { denied: string } | { missing: true } {
  if (requested === "") {
    // A service has no account of its own: it must say whose order it places.
    if (caller.kind !== "user") return { missing: true };
    return { accountId: caller.accountId };
  }
  if (!mayActFor(caller, requested)) return { denied: "you may place orders only for yourself" };
  return { accountId: requested };
}

/**
 * Why an attempt failed, as a plain value: the saga decides it, the order row remembers it for
 * duplicates waiting on the attempt, and the handler turns it into a Connect code and words.
 */
export type OrderFailure =
  | { reason: "account-not-found" }
  /** The catalog does not know these products (the first one is what a row remembers). */
  | { reason: "product-not-found"; productIds: string[] }
  /** Too little stock; the product and the catalog's words for it, when it named one. */
  | { reason: "out-of-stock"; productId?: string | undefined; description?: string | undefined }
  /** A peer did not answer: down, too slow (`timedOut`), or the connection broke. */
  | { reason: "peer-unavailable"; peer: PeerName; timedOut: boolean; cause?: unknown }
  /** Recovery gave up on the attempt (its process died or hung mid-saga). */
  | { reason: "abandoned" }
  /** Recovery took the row while this request was still placing it. */
  | { reason: "overtaken" }
  /** A duplicate waited for the first attempt with its key, and it is still pending. */
  | { reason: "still-placing" }
  /** Anything else: our bug, a misconfiguration, an unexpected answer. `cause` is for the log. */
  | { reason: "internal"; cause?: unknown };

export type PeerName = "account" | "catalog";

export interface PricedProduct {
  id: string;
  name: string;
  description: string;
  priceCents: bigint;
}

export interface PricedItem {
  productId: string;
  name: string;
  description: string;
  unitPriceCents: bigint;
  quantity: number;
}

/**
 * Snapshots each line's product and sums the total in integer cents (bigint, so exact at any
 * size). `products` must hold every line's product; the caller checked for unknown ones.
 */
export function priceOrder(
  items: readonly LineItem[],
  products: ReadonlyMap<string, PricedProduct>,
): { items: PricedItem[]; totalCents: bigint } {
  let totalCents = 0n;
  const priced = items.map((item) => {
    const product = products.get(item.productId);
    if (!product) throw new Error(`product ${item.productId} was not priced`);
    totalCents += product.priceCents * BigInt(item.quantity);
    return {
      productId: item.productId,
      name: product.name,
      description: product.description,
      unitPriceCents: product.priceCents,
      quantity: item.quantity,
    };
  });
  return { items: priced, totalCents };
}

/** The first line whose product the catalog does not know, if any. */
export function firstUnknownProduct(
  items: readonly LineItem[],
  known: ReadonlyMap<string, unknown>,
): string | undefined {
  return items.find((item) => !known.has(item.productId))?.productId;
}

/** A placed order's status after checkout, as the store keeps it (the API's OrderStatus). */
export type Fulfilment = "placed" | "shipped" | "cancelled";

/** A status change asked of a placed order. */
export type OrderAction = "cancel" | "ship";

const endsIn: Record<OrderAction, Fulfilment> = { cancel: "cancelled", ship: "shipped" };

/**
 * What a cancel or ship answers when it found the order no longer PLACED: the order as it is
 * when it already ended the way asked (both are idempotent), else a refusal naming where it
 * ended instead (cancelling a shipped order, shipping a cancelled one).
 */
export function unchangedAnswer(
  asked: OrderAction,
  now: Fulfilment,
): { unchanged: true } | { refused: Fulfilment } {
  return now === endsIn[asked] ? { unchanged: true } : { refused: now };
}
