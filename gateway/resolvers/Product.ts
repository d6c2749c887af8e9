import { present } from "../errors.js";
import type { ProductResolvers } from "../generated/resolvers.js";
import { centsToPrice } from "../money.js";

export const Product: ProductResolvers = {
  price: (product) => centsToPrice(product.priceCents),
  createdAt: (product) => present(product.createTime, "create_time"),
};
