// How ListProducts answers a query: PostgreSQL full-text search by default, OpenSearch when
// configured. Either way the rows (prices, stock) come from PostgreSQL, the source of truth.
import { inRequestOrder } from "../../../platform/collections.js";
import type { ProductRecord, ProductStore, SearchStore } from "../store.js";

export interface ProductSearch {
  readonly engine: "postgres" | "opensearch";
  /** Products matching `query`, best first. */
  search(query: string, skip: number, take: number): Promise<ProductRecord[]>;
}

export function postgresSearch(store: SearchStore): ProductSearch {
  return {
    engine: "postgres",
    search: (query, skip, take) => store.search(query, skip, take),
  };
}

/** Ids from a search engine, then their rows from PostgreSQL in the engine's order. */
export function idSearch(
  products: ProductStore,
  engine: ProductSearch["engine"],
  searchIds: (query: string, skip: number, take: number) => Promise<string[]>,
): ProductSearch {
  return {
    engine,
    async search(query, skip, take) {
      const ids = await searchIds(query, skip, take);
      // An id the index still holds but PostgreSQL does not is stale: left out.
      return inRequestOrder(ids, await products.findByIds(ids), (p) => p.id);
    },
  };
}

/**
 * `primary`, or `fallback` when `primary` fails (OpenSearch down): search stays available,
 * answered by PostgreSQL, rather than failing the call.
 */
export function withFallback(
  primary: ProductSearch,
  fallback: ProductSearch,
  onFallback: (error: unknown) => void,
): ProductSearch {
  return {
    engine: primary.engine,
    async search(query, skip, take) {
      try {
        return await primary.search(query, skip, take);
      } catch (error) {
        onFallback(error);
        return fallback.search(query, skip, take);
      }
    },
  };
}
