import type { GatewayContext } from "../context.js";
import { withFieldNames } from "../errors.js";
import { checkPagination, type PaginationInput } from "../limits.js";
import { primeAccounts, primeProducts } from "../loaders.js";

const paginationField = (field: string) =>
  field === "skip" || field === "take" ? `pagination.${field}` : field;

export const Query = {
  async accounts(
    _: unknown,
    args: { pagination?: PaginationInput | null; id?: string | null },
    ctx: GatewayContext,
  ) {
    if (args.id != null) {
      const account = await ctx.loaders.account.load(args.id);
      return account ? [account] : [];
    }
    const page = checkPagination(args.pagination, ctx.maxTake);
    const { accounts } = await withFieldNames(
      paginationField,
      ctx.backends.account.listAccounts(page, ctx.call),
    );
    primeAccounts(ctx.loaders, accounts);
    return accounts;
  },

  async products(
    _: unknown,
    args: { pagination?: PaginationInput | null; query?: string | null; id?: string | null },
    ctx: GatewayContext,
  ) {
    if (args.id != null) {
      const product = await ctx.loaders.product.load(args.id);
      return product ? [product] : [];
    }
    const page = checkPagination(args.pagination, ctx.maxTake);
    const { products } = await withFieldNames(
      paginationField,
      ctx.backends.catalog.listProducts({ ...page, query: args.query ?? "" }, ctx.call),
    );
    primeProducts(ctx.loaders, products);
    return products;
  },

  /** The caller's account; null without a token. A bad token is the service's to refuse. */
  async me(_: unknown, __: unknown, ctx: GatewayContext) {
    if (ctx.authorization === undefined) return null;
    const subject = tokenSubject(ctx.authorization);
    // A service identity is nobody's account.
    if (subject?.startsWith("service:")) return null;
    // An unreadable token still goes to the service, which says what is wrong with it.
    return ctx.loaders.account.load(subject ?? "00000000-0000-0000-0000-000000000000");
  },
};

/**
 * The `sub` claim of a bearer JWT, read without verifying it: the gateway only needs to know
 * whom to ask for; the account service verifies the token and decides.
 */
export function tokenSubject(authorization: string): string | undefined {
  const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
  const payload = token?.split(".")[1];
  if (!payload) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
    const sub = (claims as { sub?: unknown })?.sub;
    return typeof sub === "string" ? sub : undefined;
  } catch {
    return undefined;
  }
}
