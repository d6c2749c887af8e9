import type { Product as ProductMessage } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { centsToPrice } from "../money.js";

export const Product = {
  price: (product: ProductMessage) => centsToPrice(product.priceCents),
  createdAt: (product: ProductMessage) => product.createTime,
};
