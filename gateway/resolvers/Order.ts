import { GraphQLError } from "graphql";
import { OrderStatus } from "../../gen/bazaar/order/v1/order_pb.js";
import { present } from "../errors.js";
import type { OrderStatus as GraphqlOrderStatus, OrderResolvers } from "../generated/resolvers.js";
import { selects } from "../lookahead.js";
import { centsToPrice } from "../money.js";
import { withProducts } from "./OrderedProduct.js";

const statusNames: Record<OrderStatus, GraphqlOrderStatus> = {
  // An order service from before statuses knew only placed orders.
  [OrderStatus.UNSPECIFIED]: "PLACED",
  [OrderStatus.PLACED]: "PLACED",
  [OrderStatus.SHIPPED]: "SHIPPED",
  [OrderStatus.CANCELLED]: "CANCELLED",
};

export const orderStatuses: Record<GraphqlOrderStatus, OrderStatus> = {
  PLACED: OrderStatus.PLACED,
  SHIPPED: OrderStatus.SHIPPED,
  CANCELLED: OrderStatus.CANCELLED,
};

export const Order: OrderResolvers = {
  createdAt: (order) => present(order.createTime, "create_time"),
  // An order service from before update_time: the order has not changed since it was placed.
  updatedAt: (order) => present(order.updateTime ?? order.createTime, "update_time"),
  status: (order) => statusNames[order.status],
  cancelReason: (order) => (order.cancelReason === "" ? null : order.cancelReason),
  totalPrice: (order) => centsToPrice(order.totalCents),
  account: async (order, _, ctx) => {
    const account = await ctx.loaders.account.load(order.accountId);
    if (!account) {
      throw new GraphQLError(`account ${order.accountId} not found`, {
        extensions: { code: "NOT_FOUND" },
      });
    }
    return account;
  },
  // The items are the ordered products, each a snapshot taken when the order was placed; with
  // today's catalog entry beside each when the query asks for it.
  products: (order, _, ctx, info) =>
    selects(info, "product") ? withProducts(order.items, ctx.loaders.product) : order.items,
};
