// The OrderService handlers: validate, check who may do it, run the saga or the lifecycle, or
// read the store.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import { OrderOutcome, OrderService, OrderStatus } from "../../gen/bazaar/order/v1/order_pb.js";
import { PreconditionFailureSchema } from "../../gen/google/rpc/error_details_pb.js";
import {
  mayActFor,
  requireAdmin,
  requireCaller,
  requireService,
} from "../../platform/auth/auth.js";
import { isUuid } from "../../platform/data/ids.js";
import type { LiveParts } from "../../platform/events/live.js";
import { capped } from "../../platform/events/watch.js";
import { kLogger, kRequestId } from "../../platform/http/interceptors.js";
import { invalidArgument, validate } from "../../platform/http/validation.js";
import type { Logger } from "../../platform/observability/logger.js";
import {
  batchListOrdersForAccountsRequest,
  cancelOrderRequest,
  createOrderRequest,
  type Fulfilment,
  getOrderOutcomeRequest,
  getOrderRequest,
  listOrdersForAccountRequest,
  listOrdersRequest,
  mergeLines,
  type OrderAction,
  type OrderFailure,
  orderingAccount,
  shipOrderRequest,
  watchOrdersRequest,
} from "./domain.js";
import { OrderLifecycle, type TransitionOutcome } from "./lifecycle.js";
import { maxQuantity } from "./limits.js";
import { orderSource } from "./live.js";
import { fulfilmentOf, toOrder } from "./messages.js";
import { peerUnavailableText } from "./peer-transport.js";
import type { Peers } from "./peers.js";
import { OrderSaga } from "./saga.js";
import type { OrderAttempt, OrderRecord, OrderStore } from "./store.js";

export interface OrderServiceDeps {
  store: OrderStore;
  peers: Peers;
  logger: Logger;
  /** How long a duplicate request waits for the first attempt with its idempotency key. */
  duplicateWaitMs: number;
  /** WatchOrders' outbox tail, caps and heartbeat; the method is UNIMPLEMENTED without it. */
  live?: LiveParts;
}

export function orderRoutes(deps: OrderServiceDeps) {
  return (router: ConnectRouter) => router.service(OrderService, orderService(deps));
}

export function orderService(deps: OrderServiceDeps): ServiceImpl<typeof OrderService> {
  const { store } = deps;
  const saga = new OrderSaga(deps);
  const lifecycle = new OrderLifecycle(deps);
  return {
    async createOrder(req, ctx) {
      const input = validate(createOrderRequest, req);
      const caller = requireCaller(ctx);
      const target = orderingAccount(caller, input.accountId);
      if ("missing" in target) {
        throw invalidArgument([
          { field: "account_id", description: "is required when a service places the order" },
        ]);
      }
      if ("denied" in target) throw new ConnectError(target.denied, Code.PermissionDenied);
      const merged = mergeLines(input.items);
      if ("tooMany" in merged) {
        throw invalidArgument([
          {
            field: "items",
            description: `product ${merged.tooMany.productId} adds up to ${merged.tooMany.quantity}; at most ${maxQuantity} per product`,
          },
        ]);
      }
      const outcome = await saga.place({
        accountId: target.accountId,
        items: merged.items,
        idempotencyKey: input.idempotencyKey === "" ? undefined : input.idempotencyKey,
        requestId: ctx.values.get(kRequestId),
        deadline: deadlineOf(ctx.timeoutMs()),
        logger: ctx.values.get(kLogger),
      });
      if ("failure" in outcome) throw failureError(outcome.failure, target.accountId);
      return { order: toOrder(outcome.order) };
    },

    async getOrder(req, ctx) {
      const { id } = validate(getOrderRequest, req);
      const caller = requireCaller(ctx);
      const order = await store.orders.find(id);
      // Someone else's order is "not found" as well, so the answer never tells that it exists.
      if (!order || !mayActFor(caller, order.accountId)) {
        throw new ConnectError(`order ${id} not found`, Code.NotFound);
      }
      return { order: toOrder(order) };
    },

    async listOrdersForAccount(req, ctx) {
      const { accountId } = validate(listOrdersForAccountRequest, req);
      const caller = requireCaller(ctx);
      if (!mayActFor(caller, accountId)) {
        throw new ConnectError("you may list only your own orders", Code.PermissionDenied);
      }
      const byAccount = await store.orders.listForAccounts([accountId]);
      return { orders: (byAccount.get(accountId) ?? []).map(toOrder) };
    },

    async *watchOrders(req, ctx) {
      const { orderIds, cursor } = validate(watchOrdersRequest, req);
      const caller = requireCaller(ctx);
      const { live } = deps;
      if (!live) throw new ConnectError("WatchOrders is not served here", Code.Unimplemented);
      const source = orderSource(live.tail, caller);
      for await (const update of capped({ ...live, source }, orderIds, cursor, ctx)) {
        yield update ? { update: { order: update.state, cursor: update.cursor } } : {};
      }
    },

    async batchListOrdersForAccounts(req, ctx) {
      const { accountIds } = validate(batchListOrdersForAccountsRequest, req);
      const caller = requireCaller(ctx);
      // A malformed id names no account: its entry is simply empty.
      const requested = accountIds.map((id) => id.toLowerCase());
      const denied = requested.find((id) => isUuid(id) && !mayActFor(caller, id));
      if (denied) {
        throw new ConnectError(
          `you may not list the orders of account ${denied}`,
          Code.PermissionDenied,
        );
      }
      const byAccount = await store.orders.listForAccounts([...new Set(requested.filter(isUuid))]);
      return {
        accountOrders: requested.map((accountId) => ({
          accountId,
          orders: (byAccount.get(accountId) ?? []).map(toOrder),
        })),
      };
    },

    async cancelOrder(req, ctx) {
      const { id, reason } = validate(cancelOrderRequest, req);
      const caller = requireCaller(ctx);
      const outcome = await lifecycle.cancel({
        id,
        reason: reason === "" ? null : reason,
        caller,
        call: deps.peers.callOptions(ctx.values.get(kRequestId), deadlineOf(ctx.timeoutMs())),
        logger: ctx.values.get(kLogger),
      });
      return { order: toOrder(transitioned(outcome, id, "cancel")) };
    },

    async shipOrder(req, ctx) {
      const { id } = validate(shipOrderRequest, req);
      requireAdmin(ctx);
      return { order: toOrder(transitioned(await lifecycle.ship(id), id, "ship")) };
    },

    async listOrders(req, ctx) {
      const { status, skip, take } = validate(listOrdersRequest, req);
      requireAdmin(ctx);
      const fulfilment = status === OrderStatus.UNSPECIFIED ? undefined : fulfilmentOf[status];
      return { orders: (await store.orders.list({ fulfilment, skip, take })).map(toOrder) };
    },

    async getOrderOutcome(req, ctx) {
      // Only the catalog asks, before it settles an expired reservation.
      requireService(ctx, "catalog");
      const { orderId } = validate(getOrderOutcomeRequest, req);
      return { outcome: outcomeOf(await store.attempts.findAttempt(orderId)) };
    },
  };
}

/** Our caller's deadline as an instant, when it sent one (grpc-timeout, connect-timeout-ms). */
function deadlineOf(timeoutMs: number | undefined): number | undefined {
  return timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
}

/**
 * An attempt's outcome for the catalog. Final once CONFIRMED or FAILED (an attempt never leaves
 * those); no row at all is final too, since the saga writes the row before it reserves. A
 * cancelled order stays CONFIRMED: its reservation is to be committed and then returned
 * (lifecycle.ts), never released by the sweeper as well.
 */
function outcomeOf(attempt: OrderAttempt | undefined): OrderOutcome {
  switch (attempt?.status) {
    case undefined:
      return OrderOutcome.UNKNOWN;
    case "pending":
      return OrderOutcome.PENDING;
    case "confirmed":
      return OrderOutcome.CONFIRMED;
    case "failed":
      return OrderOutcome.FAILED;
  }
}

/** A status as callers read it: SHIPPED, CANCELLED… */
const statusName = (fulfilment: Fulfilment) => fulfilment.toUpperCase();

/** The order a cancel or ship answers with, or its refusal as the caller's error. */
function transitioned(outcome: TransitionOutcome, id: string, asked: OrderAction): OrderRecord {
  if ("order" in outcome) return outcome.order;
  // Someone else's order is "not found" as well, so the answer never tells that it exists.
  if ("notFound" in outcome) throw new ConnectError(`order ${id} not found`, Code.NotFound);
  const now = statusName(outcome.refused);
  return failedPrecondition(
    `order ${id} is ${now}; only a PLACED order can be ${asked === "cancel" ? "cancelled" : "shipped"}`,
    { type: "ORDER_STATUS", subject: id, description: now },
  );
}

function failedPrecondition(
  message: string,
  violation: { type: string; subject: string; description: string },
): never {
  throw new ConnectError(message, Code.FailedPrecondition, undefined, [
    {
      desc: PreconditionFailureSchema,
      value: create(PreconditionFailureSchema, { violations: [violation] }),
    },
  ]);
}

/** Why an order failed, in the code and words our caller (and the gateway) act on. */
function failureError(failure: OrderFailure, accountId: string): unknown {
  switch (failure.reason) {
    case "account-not-found":
      return new ConnectError(`account ${accountId} not found`, Code.NotFound);
    case "product-not-found": {
      const ids = failure.productIds;
      const message =
        ids.length === 1 ? `product ${ids[0]} not found` : `products not found: ${ids.join(", ")}`;
      return new ConnectError(
        ids.length === 0 ? "a product was not found" : message,
        Code.NotFound,
      );
    }
    case "out-of-stock": {
      const { productId, description } = failure;
      const violations = productId
        ? [{ type: "STOCK", subject: productId, description: description || "not enough stock" }]
        : [];
      return new ConnectError(
        productId ? `not enough stock for product ${productId}` : "not enough stock",
        Code.FailedPrecondition,
        undefined,
        [
          {
            desc: PreconditionFailureSchema,
            value: create(PreconditionFailureSchema, { violations }),
          },
        ],
      );
    }
    case "peer-unavailable":
      return new ConnectError(
        peerUnavailableText(failure.peer, failure.timedOut),
        Code.Unavailable,
        undefined,
        undefined,
        failure.cause,
      );
    case "abandoned":
      return new ConnectError(
        "the order could not be completed; nothing was charged, try again",
        Code.Unavailable,
      );
    case "overtaken":
      return new ConnectError("placing the order took too long; try again", Code.Unavailable);
    case "still-placing":
      return new ConnectError(
        "an order with this idempotency key is still being placed; try again shortly",
        Code.Unavailable,
      );
    case "internal":
      // The observe interceptor logs the cause and answers only "internal error".
      return failure.cause ?? new ConnectError("internal error", Code.Internal);
  }
}
