import { Role } from "../../gen/bazaar/account/v1/account_pb.js";
import { present } from "../errors.js";
import type { AccountResolvers } from "../generated/resolvers.js";

export const Account: AccountResolvers = {
  role: (account) => (account.role === Role.ADMIN ? "ADMIN" : "CUSTOMER"),
  createdAt: (account) => present(account.createTime, "create_time"),
  orders: (account, _, ctx) => ctx.loaders.ordersByAccount.load(account.id),
};
