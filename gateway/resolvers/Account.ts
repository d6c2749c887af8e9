import { type Account as AccountMessage, Role } from "../../gen/bazaar/account/v1/account_pb.js";
import type { GatewayContext } from "../context.js";

export const Account = {
  role: (account: AccountMessage) => (account.role === Role.ADMIN ? "ADMIN" : "CUSTOMER"),
  createdAt: (account: AccountMessage) => account.createTime,
  orders: (account: AccountMessage, _: unknown, ctx: GatewayContext) =>
    ctx.loaders.ordersByAccount.load(account.id),
};
