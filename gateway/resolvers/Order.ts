import { GraphQLError } from "graphql";
import type { Order as OrderMessage } from "../../gen/bazaar/order/v1/order_pb.js";
import type { GatewayContext } from "../context.js";
import { centsToPrice } from "../money.js";

export const Order = {
  createdAt: (order: OrderMessage) => order.createTime,
  totalPrice: (order: OrderMessage) => centsToPrice(order.totalCents),
  account: async (order: OrderMessage, _: unknown, ctx: GatewayContext) => {
    const account = await ctx.loaders.account.load(order.accountId);
    if (!account) {
      throw new GraphQLError(`account ${order.accountId} not found`, {
        extensions: { code: "NOT_FOUND" },
      });
    }
    return account;
  },
  // The items are the ordered products, each a snapshot taken when the order was placed.
  products: (order: OrderMessage) => order.items,
};
