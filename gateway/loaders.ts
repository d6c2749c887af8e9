// Per-request DataLoaders over the services' Batch* RPCs: every account, product and order list
// a query touches is fetched in one RPC per level, whatever the number of rows. Made in the
// context factory for each request, so nothing is cached across callers. A batch's failure is
// converted here: the ids are not a caller's arguments, so there is nothing to rename.
import type { CallOptions } from "@connectrpc/connect";
import DataLoader from "dataloader";
import type { Account } from "../gen/bazaar/account/v1/account_pb.js";
import type { Product } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import type { Order } from "../gen/bazaar/order/v1/order_pb.js";
import type { Backends } from "./clients.js";
import { fromBackend } from "./errors.js";

export interface Loaders {
  account: DataLoader<string, Account | null>;
  product: DataLoader<string, Product | null>;
  ordersByAccount: DataLoader<string, Order[]>;
}

// The services accept at most 1000 ids per batch call.
const maxBatchSize = 1000;
// Ids are UUIDs, which the services compare lower-cased.
const cacheKeyFn = (id: string) => id.toLowerCase();

export function createLoaders(backends: Backends, call: CallOptions): Loaders {
  return {
    account: new DataLoader(
      async (ids) => {
        const { accounts } = await fromBackend(
          backends.account.batchGetAccounts({ ids: [...ids] }, call),
        );
        return inKeyOrder(ids, accounts, (a) => a.id, null);
      },
      { maxBatchSize, cacheKeyFn },
    ),
    product: new DataLoader(
      async (ids) => {
        const { products } = await fromBackend(
          backends.catalog.batchGetProducts({ ids: [...ids] }, call),
        );
        return inKeyOrder(ids, products, (p) => p.id, null);
      },
      { maxBatchSize, cacheKeyFn },
    ),
    ordersByAccount: new DataLoader(
      async (accountIds) => {
        const { accountOrders } = await fromBackend(
          backends.order.batchListOrdersForAccounts({ accountIds: [...accountIds] }, call),
        );
        const byAccount = new Map(accountOrders.map((a) => [a.accountId.toLowerCase(), a.orders]));
        return accountIds.map((id) => byAccount.get(id.toLowerCase()) ?? []);
      },
      { maxBatchSize, cacheKeyFn },
    ),
  };
}

/** One result per key, in key order; `missing` for a key the service did not return. */
function inKeyOrder<T, M>(
  keys: readonly string[],
  rows: T[],
  idOf: (row: T) => string,
  missing: M,
): (T | M)[] {
  const byId = new Map<string, T>();
  for (const row of rows) byId.set(idOf(row).toLowerCase(), row);
  return keys.map((key) => byId.get(key.toLowerCase()) ?? missing);
}

/** Rows a list RPC already returned, so resolving them again costs no RPC. */
export function primeAccounts(loaders: Loaders, accounts: Account[]): void {
  for (const account of accounts) loaders.account.prime(account.id, account);
}

export function primeProducts(loaders: Loaders, products: Product[]): void {
  for (const product of products) loaders.product.prime(product.id, product);
}
