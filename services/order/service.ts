// The OrderService handlers: validate, check who may do it, run the saga or read the store.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import { type Order, OrderSchema, OrderService } from "../../gen/bazaar/order/v1/order_pb.js";
import { requireCaller } from "../../platform/auth.js";
import { isUuid } from "../../platform/ids.js";
import { kLogger, kRequestId } from "../../platform/interceptors.js";
import type { Logger } from "../../platform/logger.js";
import { invalidArgument, validate } from "../../platform/validation.js";
import * as rules from "./domain.js";
import type { Peers } from "./peers.js";
import { OrderSaga } from "./saga.js";
import type { OrderRecord, OrderStore } from "./store.js";

export interface OrderServiceDeps {
  store: OrderStore;
  peers: Peers;
  logger: Logger;
  /** How long a duplicate request waits for the first attempt with its idempotency key. */
  duplicateWaitMs: number;
}

export function orderRoutes(deps: OrderServiceDeps) {
  return (router: ConnectRouter) => router.service(OrderService, orderService(deps));
}

export function orderService(deps: OrderServiceDeps): ServiceImpl<typeof OrderService> {
  const { store } = deps;
  const saga = new OrderSaga(deps);
  return {
    async createOrder(req, ctx) {
      const input = validate(rules.createOrderRequest, req);
      const caller = requireCaller(ctx);
      const target = rules.orderingAccount(caller, input.accountId);
      if ("missing" in target) {
        throw invalidArgument([
          { field: "account_id", description: "is required when a service places the order" },
        ]);
      }
      if ("denied" in target) throw new ConnectError(target.denied, Code.PermissionDenied);
      const merged = rules.mergeItems(input.items);
      if ("tooMany" in merged) {
        throw invalidArgument([
          {
            field: "items",
            description: `product ${merged.tooMany.productId} adds up to ${merged.tooMany.quantity}; at most ${rules.maxQuantity} per product`,
          },
        ]);
      }
      const order = await saga.place({
        accountId: target.accountId,
        items: merged.items,
        idempotencyKey: input.idempotencyKey === "" ? undefined : input.idempotencyKey,
        requestId: ctx.values.get(kRequestId),
        logger: ctx.values.get(kLogger),
      });
      return { order: toOrder(order) };
    },

    async getOrder(req, ctx) {
      const { id } = validate(rules.getOrderRequest, req);
      const caller = requireCaller(ctx);
      const order = await store.findConfirmed(id);
      // Someone else's order is "not found" as well, so the answer never tells that it exists.
      if (!order || !rules.mayReadOrders(caller, order.accountId)) {
        throw new ConnectError(`order ${id} not found`, Code.NotFound);
      }
      return { order: toOrder(order) };
    },

    async listOrdersForAccount(req, ctx) {
      const { accountId } = validate(rules.listOrdersForAccountRequest, req);
      const caller = requireCaller(ctx);
      if (!rules.mayReadOrders(caller, accountId)) {
        throw new ConnectError("you may list only your own orders", Code.PermissionDenied);
      }
      const byAccount = await store.listConfirmedForAccounts([accountId]);
      return { orders: (byAccount.get(accountId) ?? []).map(toOrder) };
    },

    async batchListOrdersForAccounts(req, ctx) {
      const { accountIds } = validate(rules.batchListOrdersForAccountsRequest, req);
      const caller = requireCaller(ctx);
      // A malformed id names no account: its entry is simply empty.
      const requested = accountIds.map((id) => id.toLowerCase());
      const denied = requested.find((id) => isUuid(id) && !rules.mayReadOrders(caller, id));
      if (denied) {
        throw new ConnectError(
          `you may not list the orders of account ${denied}`,
          Code.PermissionDenied,
        );
      }
      const byAccount = await store.listConfirmedForAccounts([
        ...new Set(requested.filter(isUuid)),
      ]);
      return {
        accountOrders: requested.map((accountId) => ({
          accountId,
          orders: (byAccount.get(accountId) ?? []).map(toOrder),
        })),
      };
    },
  };
}

export function toOrder(record: OrderRecord): Order {
  return create(OrderSchema, {
    id: record.id,
    accountId: record.accountId,
    items: record.items.map((item) => ({
      productId: item.productId,
      name: item.name,
      description: item.description,
      unitPriceCents: item.unitPriceCents,
      quantity: item.quantity,
    })),
    totalCents: record.totalCents,
    createTime: timestampFromDate(record.createTime),
  });
}
