import { GraphQLError } from "graphql";
import { present } from "../errors.js";
import type { OrderResolvers } from "../generated/resolvers.js";
import { selects } from "../lookahead.js";
import { centsToPrice } from "../money.js";
import { withProducts } from "./OrderedProduct.js";

export const Order: OrderResolvers = {
  createdAt: (order) => present(order.createTime, "create_time"),
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
