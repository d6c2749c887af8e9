// The OpenSearch side of search: the index's explicit mapping, the query body, and the
// bulk pushes the outbox worker makes. Used only when OPENSEARCH_URL is set.
import type { Client } from "@opensearch-project/opensearch";
import type { ProductRecord, ProductStore } from "../store.js";
import type { SearchIndexer } from "./outbox.js";
import { idSearch, type ProductSearch } from "./search.js";

/** Settings and mapping of the products index; `dynamic: strict` refuses unknown fields. */
export function productIndexBody() {
  return {
    settings: {
      number_of_shards: 1,
      number_of_replicas: 0,
    },
    mappings: {
      dynamic: "strict",
      properties: {
        id: { type: "keyword" },
        name: {
          type: "text",
          analyzer: "english",
          fields: { raw: { type: "keyword", ignore_above: 256 } },
        },
        description: { type: "text", analyzer: "english" },
        price_cents: { type: "long" },
        stock: { type: "integer" },
        create_time: { type: "date" },
      },
    },
  } as const;
}

export interface ProductDocument {
  id: string;
  name: string;
  description: string;
  price_cents: number;
  stock: number;
  create_time: string;
}

export function toDocument(product: ProductRecord): ProductDocument {
  return {
    id: product.id,
    name: product.name,
    description: product.description,
    price_cents: product.priceCents,
    stock: product.stock,
    create_time: product.createTime.toISOString(),
  };
}

/**
 * The search request: name counts three times the description, typos are forgiven
 * (fuzziness AUTO), and equal scores fall back to the id so pages are stable.
 */
export function searchBody(query: string, skip: number, take: number) {
  return {
    from: skip,
    size: take,
    _source: false,
    track_total_hits: false,
    query: {
      multi_match: {
        query,
        fields: ["name^3", "description"],
        fuzziness: "AUTO",
      },
    },
    sort: [{ _score: { order: "desc" } }, { id: { order: "asc" } }],
  };
}

/** The bulk body that upserts and removes documents, as NDJSON-ready objects. */
export function bulkBody(
  index: string,
  batch: { upsert: readonly ProductRecord[]; remove: readonly string[] },
): object[] {
  const body: object[] = [];
  for (const product of batch.upsert) {
    body.push({ index: { _index: index, _id: product.id } }, toDocument(product));
  }
  for (const id of batch.remove) body.push({ delete: { _index: index, _id: id } });
  return body;
}

export class OpenSearchCatalogIndex {
  /**
   * The index `index` on the cluster at `url`. The client package is loaded here, on first
   * use: a catalog without OpenSearch never pays its ~7 MB.
   */
  static async open(url: string, index: string): Promise<OpenSearchCatalogIndex> {
    const { Client } = await import("@opensearch-project/opensearch");
    return new OpenSearchCatalogIndex(
      new Client({ node: url, requestTimeout: 5_000, maxRetries: 2 }),
      index,
    );
  }

  private constructor(
    readonly client: Client,
    readonly index: string,
  ) {}

  /** Creates the index with its mapping unless it exists; true when it was created now. */
  async ensureIndex(): Promise<boolean> {
    const exists = await this.client.indices.exists({ index: this.index });
    if (exists.body) return false;
    try {
      await this.client.indices.create({ index: this.index, body: productIndexBody() });
      return true;
    } catch (error) {
      // Another replica created it first.
      if (String((error as Error).message).includes("resource_already_exists")) return false;
      throw error;
    }
  }

  readonly indexer: SearchIndexer = async (batch) => {
    const body = bulkBody(this.index, batch);
    if (body.length === 0) return;
    const response = await this.client.bulk({ body });
    const result = response.body as {
      errors?: boolean;
      items?: Record<string, { status?: number; error?: { reason?: string } }>[];
    };
    if (!result.errors) return;
    const failure = result.items
      ?.flatMap((item) => Object.values(item))
      // A delete of a document that was never indexed is fine.
      .find((op) => op.error && op.status !== 404);
    if (failure) throw new Error(`OpenSearch bulk failed: ${failure.error?.reason ?? "unknown"}`);
  };

  async searchIds(query: string, skip: number, take: number): Promise<string[]> {
    const response = await this.client.search({
      index: this.index,
      body: searchBody(query, skip, take) as never,
    });
    const hits = (response.body as { hits?: { hits?: { _id: string }[] } }).hits?.hits ?? [];
    return hits.map((hit) => hit._id);
  }

  productSearch(products: ProductStore): ProductSearch {
    return idSearch(products, "opensearch", (query, skip, take) =>
      this.searchIds(query, skip, take),
    );
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
