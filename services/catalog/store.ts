// The catalog's data access, one store per thing it owns, all SQL under store/: products
// (store/products.ts), their full-text search (store/search.ts), stock reservations (store/reservations.ts, with its reserve statement
// and the sweeper's reads beside it) and the search indexer's reading of the event outbox
// (store/outbox.ts). They speak in plain records, never protobuf messages.
import type { CatalogDb } from "./store/db.js";
import { SearchOutboxStore } from "./store/outbox.js";
import { ProductStore } from "./store/products.js";
import { ReservationStore } from "./store/reservations.js";
import { SearchStore } from "./store/search.js";

export type { CatalogDb } from "./store/db.js";
export type { SearchChanges, SearchOutboxStore } from "./store/outbox.js";
export type { NewProduct, ProductRecord, ProductStore } from "./store/products.js";
export type {
  ReservationOutcome,
  ReservationRecord,
  ReservationRefusal,
  ReservationState,
  ReservedProduct,
  ReserveOutcome,
  Shortage,
} from "./store/reservation-records.js";
export type { ReservationStore } from "./store/reservations.js";
export type { SearchStore } from "./store/search.js";

export interface CatalogStoreOptions {
  /** Matches of each tier that search ranks on its first pages (store/search.ts). */
  searchSample?: number;
}

export class CatalogStore {
  readonly products: ProductStore;
  readonly search: SearchStore;
  readonly reservations: ReservationStore;
  readonly outbox: SearchOutboxStore;

  constructor(db: CatalogDb, options: CatalogStoreOptions = {}) {
    this.products = new ProductStore(db);
    this.search = new SearchStore(db, options.searchSample);
    this.reservations = new ReservationStore(db);
    this.outbox = new SearchOutboxStore(db);
  }
}
