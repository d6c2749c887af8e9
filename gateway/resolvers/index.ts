// The resolver map: one file per GraphQL type, each typed from schema.graphql by
// `npm run generate:graphql`.
import type { Resolvers } from "../generated/resolvers.js";
import { Account } from "./Account.js";
import { AuthPayload } from "./AuthPayload.js";
import { DateTime } from "./DateTime.js";
import { Mutation } from "./Mutation.js";
import { Order } from "./Order.js";
import { OrderedProduct } from "./OrderedProduct.js";
import { Product } from "./Product.js";
import { Query } from "./Query.js";
import { StockUpdate } from "./StockUpdate.js";
import { Subscription } from "./Subscription.js";

export const resolvers: Resolvers = {
  Query,
  Mutation,
  Subscription,
  StockUpdate,
  Account,
  AuthPayload,
  Product,
  Order,
  OrderedProduct,
  DateTime,
};
