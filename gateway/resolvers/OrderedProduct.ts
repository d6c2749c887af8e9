import type { OrderedProductResolvers } from "../generated/resolvers.js";
import { centsToPrice } from "../money.js";

export const OrderedProduct: OrderedProductResolvers = {
  id: (item) => item.productId,
  price: (item) => centsToPrice(item.unitPriceCents),
  // Today's catalog entry, or null once the product is gone.
  product: (item, _, ctx) => ctx.loaders.product.load(item.productId),
};
