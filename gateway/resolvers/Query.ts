import { Code, ConnectError } from "@connectrpc/connect";
import { decodeJwt } from "jose";
import { OrderStatus } from "../../gen/bazaar/order/v1/order_pb.js";
import { type ArgumentNames, fromBackend, graphqlError } from "../errors.js";
import type { QueryResolvers } from "../generated/resolvers.js";
import { primeAccounts, primeProducts } from "../loaders.js";
import { checkPagination } from "../pagination.js";
import { orderStatuses } from "./Order.js";

const page: ArgumentNames = { under: "pagination", root: ["query"] };

export const Query: QueryResolvers = {
  async accounts(_, args, ctx) {
    if (args.id != null) {
      const account = await ctx.loaders.account.load(args.id);
      return account ? [account] : [];
    }
    const { skip, take } = checkPagination(args.pagination, ctx.maxTake);
    const { accounts } = await fromBackend(
      ctx.backends.account.listAccounts({ skip, take }, ctx.call),
      page,
    );
    primeAccounts(ctx.loaders, accounts);
    return accounts;
  },

  async products(_, args, ctx) {
    if (args.id != null) {
      const product = await ctx.loaders.product.load(args.id);
      return product ? [product] : [];
    }
    const { skip, take } = checkPagination(args.pagination, ctx.maxTake);
    const { products } = await fromBackend(
      ctx.backends.catalog.listProducts({ skip, take, query: args.query ?? "" }, ctx.call),
      page,
    );
    primeProducts(ctx.loaders, products);
    return products;
  },

  /**
   * With `id`: that order, if the caller may see it (its owner or an admin); the order service
   * answers NOT_FOUND alike for an unknown id and someone else's order, so [] never tells which.
   * Without: every account's orders, which the order service gives only to an admin.
   */
  async orders(_, args, ctx) {
    const status = args.status == null ? OrderStatus.UNSPECIFIED : orderStatuses[args.status];
    if (args.id != null) {
      try {
        const { order } = await ctx.backends.order.getOrder({ id: args.id }, ctx.call);
        return order && (args.status == null || order.status === status) ? [order] : [];
      } catch (error) {
        const code = ConnectError.from(error).code;
        // A malformed id names no order, as for accounts(id:) and products(id:).
        if (code === Code.NotFound || code === Code.InvalidArgument) return [];
        throw graphqlError(error);
      }
    }
    const { skip, take } = checkPagination(args.pagination, ctx.maxTake);
    const { orders } = await fromBackend(
      ctx.backends.order.listOrders({ status, skip, take }, ctx.call),
      page,
    );
    return orders;
  },

  /**
   * The caller's account; null without a token. The gateway does not verify the token: it asks
   * the account service for the account the token names, and that service verifies the token
   * and refuses a bad one. A token naming no account (a service's) finds none: null.
   */
  async me(_, __, ctx) {
    if (ctx.authorization === undefined) return null;
    return ctx.loaders.account.load(bearerSubject(ctx.authorization) ?? "");
  },
};

/** The unverified `sub` claim of a bearer JWT: whom to ask for, not whom to trust. */
function bearerSubject(authorization: string): string | undefined {
  const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
  try {
    return token === undefined ? undefined : decodeJwt(token).sub;
  } catch {
    return undefined;
  }
}
