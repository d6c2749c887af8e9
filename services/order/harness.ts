// Test support for the order service: the real account and catalog services over in-memory
// router transports, each on its own test database, and small builders for accounts and products.
import { fileURLToPath } from "node:url";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import { CatalogService } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { OrderService } from "../../gen/bazaar/order/v1/order_pb.js";
import type { TokenAuthority } from "../../platform/auth.js";
import type { DatabaseHandle } from "../../platform/database.js";
import { createLogger } from "../../platform/logger.js";
import {
  bearer,
  type DatabaseKind,
  openTestDatabase,
  routerTransport,
  testAuthority,
} from "../../platform/testing.js";
import { LoginThrottle } from "../account/domain.js";
import * as accountSchema from "../account/schema.js";
import { accountRoutes } from "../account/service.js";
import { AccountStore } from "../account/store.js";
import { migrationsFolder as catalogMigrations } from "../catalog/config.js";
import * as catalogSchema from "../catalog/schema.js";
import { catalogRoutes } from "../catalog/service.js";
import { CatalogStore } from "../catalog/store.js";
import { createPeers, type Peers, type PeerTransports } from "./peers.js";
import * as orderSchema from "./schema.js";
import { orderRoutes } from "./service.js";
import { OrderStore } from "./store.js";

export const silentLogger = createLogger({ service: "order-test", level: "silent", pretty: false });

export const orderMigrations = fileURLToPath(new URL("./drizzle", import.meta.url));

export interface UnitHarness {
  authority: TokenAuthority;
  orderDb: DatabaseHandle<typeof orderSchema>;
  store: OrderStore;
  peers: Peers;
  accounts: Client<typeof AccountService>;
  catalog: Client<typeof CatalogService>;
  orders: Client<typeof OrderService>;
  /** Order clients over a different store or peers, sharing everything else. */
  ordersWith(options: { store?: OrderStore; peers?: Peers }): Client<typeof OrderService>;
  /** Peers over transports wrapped by `wrap` (to inject faults). */
  peersWith(wrap: (transports: PeerTransports) => PeerTransports): Peers;
  close(): Promise<void>;
}

export async function unitHarness(kind: DatabaseKind): Promise<UnitHarness> {
  const { authority } = testAuthority();
  const [accountDb, catalogDb, orderDb] = await Promise.all([
    openTestDatabase(kind, {
      schema: accountSchema,
      migrationsFolder: fileURLToPath(new URL("../account/drizzle", import.meta.url)),
    }),
    openTestDatabase(kind, { schema: catalogSchema, migrationsFolder: catalogMigrations }),
    openTestDatabase(kind, { schema: orderSchema, migrationsFolder: orderMigrations }),
  ]);
  const accountTransport = routerTransport(
    accountRoutes({
      store: new AccountStore(accountDb.db),
      authority,
      tokenTtlSeconds: 3600,
      throttle: new LoginThrottle(1000, 60_000),
    }),
    authority,
  );
  const catalogTransport = routerTransport(
    catalogRoutes({ store: new CatalogStore(catalogDb.db), reservationTtlSeconds: 900 }),
    authority,
  );
  const transports: PeerTransports = { account: accountTransport, catalog: catalogTransport };
  const peersWith = (wrap: (t: PeerTransports) => PeerTransports) =>
    createPeers(wrap(transports), {
      token: authority.serviceTokenSource("order"),
      timeoutMs: 5_000,
    });
  const peers = peersWith((t) => t);
  const store = new OrderStore(orderDb.db);
  const ordersWith = (options: { store?: OrderStore; peers?: Peers }) =>
    createClient(
      OrderService,
      routerTransport(
        orderRoutes({
          store: options.store ?? store,
          peers: options.peers ?? peers,
          logger: silentLogger,
          duplicateWaitMs: 20_000,
        }),
        authority,
      ),
    );
  return {
    authority,
    orderDb,
    store,
    peers,
    accounts: createClient(AccountService, accountTransport),
    catalog: createClient(CatalogService, catalogTransport),
    orders: ordersWith({}),
    ordersWith,
    peersWith,
    close: async () => {
      await Promise.all([accountDb.close(), catalogDb.close(), orderDb.close()]);
    },
  };
}

let counter = 0;

/** A new customer account and a token for it. */
export async function customer(
  accounts: Client<typeof AccountService>,
  authority: TokenAuthority,
): Promise<{ id: string; token: string; auth: ReturnType<typeof bearer> }> {
  counter++;
  const { account } = await accounts.createAccount({
    name: `Customer ${counter}`,
    email: `customer-${Date.now()}-${counter}@example.com`,
    password: "correct horse battery",
  });
  if (!account) throw new Error("no account");
  const { token } = await authority.issueUserToken(account.id, "customer", 3600);
  return { id: account.id, token, auth: bearer(token) };
}

export async function adminAuth(authority: TokenAuthority): Promise<ReturnType<typeof bearer>> {
  const { token } = await authority.issueUserToken(
    "00000000-0000-7000-8000-000000000001",
    "admin",
    3600,
  );
  return bearer(token);
}

/** A new product with `stock` at `priceCents`. */
export async function product(
  catalog: Client<typeof CatalogService>,
  admin: ReturnType<typeof bearer>,
  priceCents: number,
  stock: number,
): Promise<string> {
  counter++;
  const { product } = await catalog.createProduct(
    {
      name: `Product ${counter}`,
      description: `Description ${counter}`,
      priceCents: BigInt(priceCents),
      stock,
    },
    admin,
  );
  if (!product) throw new Error("no product");
  return product.id;
}

export async function stockOf(
  catalog: Client<typeof CatalogService>,
  productId: string,
): Promise<number> {
  const { product } = await catalog.getProduct({ id: productId });
  return product?.stock ?? Number.NaN;
}

/** Wraps a transport so every call of `method` (by name) fails with `error` while `when()`. */
export function failing(
  transport: Transport,
  method: string,
  error: () => unknown,
  when: () => boolean = () => true,
): Transport {
  return {
    unary: async (m, signal, timeoutMs, header, input, contextValues) => {
      if (m.name === method && when()) throw error();
      return transport.unary(m, signal, timeoutMs, header, input, contextValues);
    },
    stream: (m, signal, timeoutMs, header, input, contextValues) =>
      transport.stream(m, signal, timeoutMs, header, input, contextValues),
  };
}
