// The order service under test, over the real account and catalog services: each service's
// testbed on its own test database, all behind in-memory router transports that share one
// token authority; and small builders for accounts and products.
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import type { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import type { CatalogService } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { OrderService } from "../../gen/bazaar/order/v1/order_pb.js";
import type { TestAuthority } from "../../platform/auth/auth-testing.js";
import type { DatabaseHandle } from "../../platform/data/database.js";
import { createLogger } from "../../platform/observability/logger.js";
import {
  bearer,
  openTestDatabase,
  routerTransport,
  testAuthority,
} from "../../platform/testing.js";
import { openAccountTestbed } from "../account/testing.js";
import { openCatalogTestbed } from "../catalog/testing.js";
import { migrationsFolder } from "./config.js";
import { createPeers, type Peers, type PeerTransports } from "./peers.js";
import * as schema from "./schema.js";
import { orderRoutes } from "./service.js";
import { OrderStore } from "./store.js";

export const silentLogger = createLogger({ service: "order-test", level: "silent", pretty: false });

export interface OrderTestbed {
  authority: TestAuthority;
  database: DatabaseHandle<typeof schema>;
  /** The peers' own databases (their event outboxes, for the event tests). */
  peerDatabases: {
    account: DatabaseHandle<Record<string, unknown>>;
    catalog: DatabaseHandle<Record<string, unknown>>;
  };
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

export async function openOrderTestbed(): Promise<OrderTestbed> {
  const auth = testAuthority();
  const { authority } = auth;
  const [account, catalog, database] = await Promise.all([
    openAccountTestbed({ auth }),
    openCatalogTestbed({ authority }),
    openTestDatabase({ schema, migrationsFolder }),
  ]);
  const transports: PeerTransports = { account: account.transport, catalog: catalog.transport };
  const peersWith = (wrap: (t: PeerTransports) => PeerTransports) =>
    createPeers(wrap(transports), {
      token: authority.serviceTokenSource("order"),
      timeoutMs: 5_000,
    });
  const peers = peersWith((t) => t);
  const store = new OrderStore(database.db);
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
    database,
    peerDatabases: { account: account.database, catalog: catalog.database },
    store,
    peers,
    accounts: account.client,
    catalog: catalog.client,
    orders: ordersWith({}),
    ordersWith,
    peersWith,
    close: async () => {
      await Promise.all([account.close(), catalog.close(), database.close()]);
    },
  };
}

let counter = 0;

/** A new customer account and a token for it. */
export async function customer(
  accounts: Client<typeof AccountService>,
  authority: TestAuthority,
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

export async function adminAuth(authority: TestAuthority): Promise<ReturnType<typeof bearer>> {
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

/** `transport`, writing the name of each method it is asked for into `methods`. */
export function counting(transport: Transport, methods: string[]): Transport {
  return {
    unary: (m, ...rest) => {
      methods.push(m.name);
      return transport.unary(m, ...rest);
    },
    stream: transport.stream.bind(transport),
  };
}
