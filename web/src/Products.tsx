// The catalog: search (full text, best match first) or browse, a page at a time; the stock of
// the products shown stays live (WatchStock).
import { useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { CatalogService, type Product } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { LoadError } from "./LoadError.js";
import { useLiveStock } from "./live.js";
import { formatCents } from "./money.js";

const pageSize = 12;

export function Products({ onAdd }: { onAdd: (product: Product) => void }) {
  const [draft, setDraft] = useState("");
  const [query, setQuery] = useState("");
  const [page, setPage] = useState(0);
  // One more than a page, to know whether there is a next one.
  const { data, error, isFetching, refetch } = useQuery(
    CatalogService.method.listProducts,
    { query, skip: page * pageSize, take: pageSize + 1 },
    { placeholderData: keepPreviousData },
  );
  const products = data?.products.slice(0, pageSize) ?? [];
  const hasNext = (data?.products.length ?? 0) > pageSize;
  useLiveStock(products.map((p) => p.id));

  const search = (event: FormEvent) => {
    event.preventDefault();
    setQuery(draft.trim());
    setPage(0);
  };

  return (
    <section aria-labelledby="products-title">
      <h2 id="products-title">{query ? `Results for “${query}”` : "Products"}</h2>
      <search>
        <form onSubmit={search} className="search">
          <input
            type="search"
            aria-label="Search products"
            placeholder="Search products"
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
          />
          <button type="submit">Search</button>
        </form>
      </search>
      {error && <LoadError error={error} retry={refetch} />}
      {!error && data && products.length === 0 && (
        <p>{query ? "No product matches your search." : "The catalog is empty."}</p>
      )}
      <ul className="products" aria-busy={isFetching}>
        {products.map((p) => (
          <li key={p.id} className="product">
            <h3>{p.name}</h3>
            <p className="description">{p.description}</p>
            <p className="price">{formatCents(p.priceCents)}</p>
            <p className="stock">{p.stock > 0 ? `${p.stock} in stock` : "Out of stock"}</p>
            <button
              type="button"
              disabled={p.stock === 0}
              onClick={() => onAdd(p)}
              aria-label={`Add ${p.name} to basket`}
            >
              Add to basket
            </button>
          </li>
        ))}
      </ul>
      <nav className="pager" aria-label="Pages">
        <button type="button" disabled={page === 0} onClick={() => setPage(page - 1)}>
          Previous
        </button>
        <span>Page {page + 1}</span>
        <button type="button" disabled={!hasNext} onClick={() => setPage(page + 1)}>
          Next
        </button>
      </nav>
    </section>
  );
}
