import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { GatewayContext } from "../context.js";
import { camelFields, withFieldNames } from "../errors.js";
import { priceToCents } from "../money.js";

// Each service reports bad fields by their proto names; callers know the GraphQL arguments.
const under =
  (prefix: string, names: Record<string, string> = {}) =>
  (field: string) => {
    if (field === "request") return prefix;
    return names[field] ?? `${prefix}.${camelFields(field)}`;
  };

const orderFields = (field: string) =>
  field
    .replace(/^items/, "order.products")
    .replace(/\.product_id$/, ".id")
    .replace(/^(account_id|idempotency_key|request)$/, (name) =>
      name === "request" ? "order" : `order.${camelFields(name)}`,
    );

/** GraphQL's explicit null means "not given" for optional patch fields. */
const given = <T>(value: T | null | undefined): T | undefined => value ?? undefined;

export const Mutation = {
  async createAccount(
    _: unknown,
    args: { account: { name: string; email: string; password: string } },
    ctx: GatewayContext,
  ) {
    const { account } = await withFieldNames(
      under("account"),
      ctx.backends.account.createAccount(args.account, ctx.call),
    );
    return account;
  },

  async login(_: unknown, args: { email: string; password: string }, ctx: GatewayContext) {
    const res = await withFieldNames(camelFields, ctx.backends.account.login(args, ctx.call));
    return {
      token: res.accessToken,
      expiresAt: res.expireTime ? timestampDate(res.expireTime) : new Date(0),
      account: res.account,
    };
  },

  async updateAccount(
    _: unknown,
    args: {
      id: string;
      patch: { name?: string | null; password?: string | null; currentPassword?: string | null };
    },
    ctx: GatewayContext,
  ) {
    const { account } = await withFieldNames(
      (field) =>
        field === "id" ? "id" : under("patch", { new_password: "patch.password" })(field),
      ctx.backends.account.updateAccount(
        {
          id: args.id,
          name: given(args.patch.name),
          newPassword: given(args.patch.password),
          currentPassword: given(args.patch.currentPassword),
        },
        ctx.call,
      ),
    );
    return account;
  },

  async createProduct(
    _: unknown,
    args: { product: { name: string; description: string; price: number; stock: number } },
    ctx: GatewayContext,
  ) {
    const { name, description, price, stock } = args.product;
    const { product } = await withFieldNames(
      under("product", { price_cents: "product.price" }),
      ctx.backends.catalog.createProduct(
        { name, description, stock, priceCents: priceToCents(price, "product.price") },
        ctx.call,
      ),
    );
    return product;
  },

  async updateProduct(
    _: unknown,
    args: {
      id: string;
      patch: {
        name?: string | null;
        description?: string | null;
        price?: number | null;
        stock?: number | null;
      };
    },
    ctx: GatewayContext,
  ) {
    const { patch } = args;
    const price = given(patch.price);
    const { product } = await withFieldNames(
      (field) => (field === "id" ? "id" : under("patch", { price_cents: "patch.price" })(field)),
      ctx.backends.catalog.updateProduct(
        {
          id: args.id,
          name: given(patch.name),
          description: given(patch.description),
          priceCents: price === undefined ? undefined : priceToCents(price, "patch.price"),
          stock: given(patch.stock),
        },
        ctx.call,
      ),
    );
    return product;
  },

  async createOrder(
    _: unknown,
    args: {
      order: {
        accountId?: string | null;
        products: { id: string; quantity: number }[];
        idempotencyKey?: string | null;
      };
    },
    ctx: GatewayContext,
  ) {
    const { order: input } = args;
    const { order } = await withFieldNames(
      orderFields,
      ctx.backends.order.createOrder(
        {
          accountId: input.accountId ?? "",
          items: input.products.map((p) => ({ productId: p.id, quantity: p.quantity })),
          idempotencyKey: input.idempotencyKey ?? "",
        },
        ctx.call,
      ),
    );
    return order;
  },
};
