// The catalog service under test: a migrated test database, its store, the routes behind the
// platform's in-memory router transport, a client and tokens for each kind of caller. Other
// services' tests compose it.
import { type CallOptions, type Client, createClient, type Transport } from "@connectrpc/connect";
import { CatalogService } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import type { TestAuthority } from "../../platform/auth/auth-testing.js";
import type { DatabaseHandle } from "../../platform/data/database.js";
import { uuidv7 } from "../../platform/data/ids.js";
import {
  bearer,
  openTestDatabase,
  rejection,
  routerTransport,
  testAuthority,
} from "../../platform/testing.js";
import { migrationsFolder } from "./config.js";
import * as schema from "./schema.js";
import type { ProductSearch } from "./search/search.js";
import { catalogRoutes } from "./service.js";
import { CatalogStore, type CatalogStoreOptions } from "./store.js";

export { rejection };

export type CatalogClient = Client<typeof CatalogService>;

export interface CatalogTestbed {
  database: DatabaseHandle<typeof schema>;
  store: CatalogStore;
  authority: TestAuthority;
  transport: Transport;
  client: CatalogClient;
  as: { admin: CallOptions; customer: CallOptions; service: CallOptions };
  close(): Promise<void>;
}

export async function openCatalogTestbed(
  options: CatalogStoreOptions & {
    search?: ProductSearch;
    reservationTtlSeconds?: number;
    authority?: TestAuthority;
  } = {},
): Promise<CatalogTestbed> {
  const database = await openTestDatabase({ schema, migrationsFolder });
  const store = new CatalogStore(database.db, options);
  const authority = options.authority ?? testAuthority().authority;
  const transport = routerTransport(
    catalogRoutes({
      store,
      reservationTtlSeconds: options.reservationTtlSeconds ?? 900,
      ...(options.search ? { search: options.search } : {}),
    }),
    authority,
  );
  const as = {
    admin: bearer((await authority.issueUserToken(uuidv7(), "admin", 600)).token),
    customer: bearer((await authority.issueUserToken(uuidv7(), "customer", 600)).token),
    service: bearer(await authority.issueServiceToken("order")),
  };
  return {
    database,
    store,
    authority,
    transport,
    client: createClient(CatalogService, transport),
    as,
    close: () => database.close(),
  };
}

let serial = 0;

/** A product with sensible defaults, created through the store. */
export async function aProduct(
  store: CatalogStore,
  overrides: Partial<{ name: string; description: string; priceCents: number; stock: number }> = {},
) {
  serial += 1;
  return store.products.create({
    name: `Test product ${serial}`,
    description: "",
    priceCents: 1000,
    stock: 10,
    ...overrides,
  });
}
