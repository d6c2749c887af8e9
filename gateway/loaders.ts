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
  readonly account: DataLoader<string, Account | null>;
  readonly product: DataLoader<string, Product | null>;
  readonly ordersByAccount: DataLoader<string, Order[]>;
  /** Rows a list RPC returned: a later load of one of them costs no RPC. */
  listedAccounts(accounts: Account[]): void;
  listedProducts(products: Product[]): void;
}

// The services accept at most 1000 ids per batch call.
const maxBatchSize = 1000;
// Ids are UUIDs, which the services compare lower-cased.
const cacheKeyFn = (id: string) => id.toLowerCase();

export function createLoaders(backends: Backends, call: CallOptions): Loaders {
  return new LazyLoaders(backends, call);
}

/**
 * Each loader is made when a resolver first asks for it, and rows a list RPC returned are put in
 * its cache only then: the flat products query, which never loads a product by id, made three
 * loaders and primed twenty entries per request for nothing.
 */
class LazyLoaders implements Loaders {
  readonly #accounts: LazyById<Account>;
  readonly #products: LazyById<Product>;
  #ordersByAccount: Loaders["ordersByAccount"] | undefined;

  constructor(
    private readonly backends: Backends,
    private readonly call: CallOptions,
  ) {
    this.#accounts = new LazyById(
      async (ids) => (await fromBackend(backends.account.batchGetAccounts({ ids }, call))).accounts,
    );
    this.#products = new LazyById(
      async (ids) => (await fromBackend(backends.catalog.batchGetProducts({ ids }, call))).products,
    );
  }

  get account(): Loaders["account"] {
    return this.#accounts.loader;
  }

  get product(): Loaders["product"] {
    return this.#products.loader;
  }

  get ordersByAccount(): Loaders["ordersByAccount"] {
    if (this.#ordersByAccount === undefined) {
      const { backends, call } = this;
      this.#ordersByAccount = new DataLoader(
        async (accountIds) => {
          const { accountOrders } = await fromBackend(
            backends.order.batchListOrdersForAccounts({ accountIds: [...accountIds] }, call),
          );
          const byAccount = new Map(
            accountOrders.map((a) => [a.accountId.toLowerCase(), a.orders]),
          );
          return accountIds.map((id) => byAccount.get(id.toLowerCase()) ?? []);
        },
        { maxBatchSize, cacheKeyFn },
      );
    }
    return this.#ordersByAccount;
  }

  listedAccounts(accounts: Account[]): void {
    this.#accounts.listed(accounts);
  }

  listedProducts(products: Product[]): void {
    this.#products.listed(products);
  }
}

/** A by-id loader over a Batch* RPC, made on first use, with the rows listed before then. */
class LazyById<T extends { id: string }> {
  #loader: DataLoader<string, T | null> | undefined;
  readonly #listed: T[][] = [];

  constructor(private readonly batchGet: (ids: string[]) => Promise<T[]>) {}

  get loader(): DataLoader<string, T | null> {
    if (this.#loader === undefined) {
      this.#loader = new DataLoader(
        async (ids) => inKeyOrder(ids, await this.batchGet([...ids]), (row) => row.id, null),
        { maxBatchSize, cacheKeyFn },
      );
      for (const rows of this.#listed) for (const row of rows) this.#loader.prime(row.id, row);
    }
    return this.#loader;
  }

  listed(rows: T[]): void {
    if (this.#loader === undefined) this.#listed.push(rows);
    else for (const row of rows) this.#loader.prime(row.id, row);
  }
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
  loaders.listedAccounts(accounts);
}

export function primeProducts(loaders: Loaders, products: Product[]): void {
  loaders.listedProducts(products);
}
