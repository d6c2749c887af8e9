import type { OrderItem } from "../../gen/bazaar/order/v1/order_pb.js";
import type { GatewayContext } from "../context.js";
import { centsToPrice } from "../money.js";

export const OrderedProduct = {
  id: (item: OrderItem) => item.productId,
  price: (item: OrderItem) => centsToPrice(item.unitPriceCents),
  // Today's catalog entry, or null once the product is gone.
  product: (item: OrderItem, _: unknown, ctx: GatewayContext) =>
    ctx.loaders.product.load(item.productId),
};
