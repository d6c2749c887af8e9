import type { ArgumentNames } from "../errors.js";
import { fromBackend, present } from "../errors.js";
import type { MutationResolvers } from "../generated/resolvers.js";
import { priceToCents } from "../money.js";

// Each service reports bad fields by their proto names; callers know the GraphQL arguments.
const accountInput: ArgumentNames = { under: "account" };
const accountPatch: ArgumentNames = {
  under: "patch",
  rename: { new_password: "password" },
  root: ["id"],
};
const productInput: ArgumentNames = { under: "product", rename: { price_cents: "price" } };
const productPatch: ArgumentNames = {
  under: "patch",
  rename: { price_cents: "price" },
  root: ["id"],
};
const orderInput: ArgumentNames = {
  under: "order",
  rename: { items: "products", product_id: "id" },
};

/** GraphQL's explicit null means "not given" for optional patch fields. */
const given = <T>(value: T | null | undefined): T | undefined => value ?? undefined;

export const Mutation: MutationResolvers = {
  async createAccount(_, args, ctx) {
    const res = await fromBackend(
      ctx.backends.account.createAccount(args.account, ctx.call),
      accountInput,
    );
    return present(res.account, "account");
  },

  login: (_, args, ctx) => fromBackend(ctx.backends.account.login(args, ctx.call)),

  async updateAccount(_, args, ctx) {
    const res = await fromBackend(
      ctx.backends.account.updateAccount(
        {
          id: args.id,
          name: given(args.patch.name),
          newPassword: given(args.patch.password),
          currentPassword: given(args.patch.currentPassword),
        },
        ctx.call,
      ),
      accountPatch,
    );
    return present(res.account, "account");
  },

  async createProduct(_, args, ctx) {
    const { name, description, price, stock } = args.product;
    const res = await fromBackend(
      ctx.backends.catalog.createProduct(
        { name, description, stock, priceCents: priceToCents(price, "product.price") },
        ctx.call,
      ),
      productInput,
    );
    return present(res.product, "product");
  },

  async updateProduct(_, args, ctx) {
    const { patch } = args;
    const price = given(patch.price);
    const res = await fromBackend(
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
      productPatch,
    );
    return present(res.product, "product");
  },

  async createOrder(_, args, ctx) {
    const { order: input } = args;
    const res = await fromBackend(
      ctx.backends.order.createOrder(
        {
          accountId: input.accountId ?? "",
          items: input.products.map((p) => ({ productId: p.id, quantity: p.quantity })),
          idempotencyKey: input.idempotencyKey ?? "",
        },
        ctx.call,
      ),
      orderInput,
    );
    return present(res.order, "order");
  },

  async cancelOrder(_, args, ctx) {
    const res = await fromBackend(
      ctx.backends.order.cancelOrder({ id: args.id, reason: args.reason ?? "" }, ctx.call),
    );
    return present(res.order, "order");
  },

  async shipOrder(_, args, ctx) {
    const res = await fromBackend(ctx.backends.order.shipOrder({ id: args.id }, ctx.call));
    return present(res.order, "order");
  },
};
