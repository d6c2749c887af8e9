// An order as the contract shows it (bazaar.order.v1.Order), from the store's record: one
// mapping for the RPC answers, the Watch stream and the domain events alike.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Order, OrderSchema, OrderStatus } from "../../gen/bazaar/order/v1/order_pb.js";
import type { Fulfilment, OrderRecord } from "./records.js";

const statusOf: Record<Fulfilment, OrderStatus> = {
  placed: OrderStatus.PLACED,
  shipped: OrderStatus.SHIPPED,
  cancelled: OrderStatus.CANCELLED,
};

export const fulfilmentOf: Record<Exclude<OrderStatus, OrderStatus.UNSPECIFIED>, Fulfilment> = {
  [OrderStatus.PLACED]: "placed",
  [OrderStatus.SHIPPED]: "shipped",
  [OrderStatus.CANCELLED]: "cancelled",
};

export function toOrder(record: OrderRecord): Order {
  return create(OrderSchema, {
    id: record.id,
    accountId: record.accountId,
    status: statusOf[record.fulfilment],
    updateTime: timestampFromDate(record.updateTime),
    cancelReason: record.cancelReason ?? "",
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
