// The resolver map: one file per GraphQL type.
import { Account } from "./Account.js";
import { DateTime } from "./DateTime.js";
import { Mutation } from "./Mutation.js";
import { Order } from "./Order.js";
import { OrderedProduct } from "./OrderedProduct.js";
import { Product } from "./Product.js";
import { Query } from "./Query.js";

export const resolvers = { Query, Mutation, Account, Product, Order, OrderedProduct, DateTime };
