import type { StockUpdateResolvers } from "../generated/resolvers.js";

export const StockUpdate: StockUpdateResolvers = {
  product: (update, _, ctx) => ctx.loaders.product.load(update.productId),
};
