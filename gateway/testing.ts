// Test helpers: the three real services on port 0 (each on its own fresh database), a
// gateway over them whose client transports count every backend RPC, a small GraphQL client
// that goes through the gateway's fetch handler, and a testbed with a few customers and products.
// Over 300 lines on purpose: test support only, one testbed; each helper is small and used by
// many test files.
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Interceptor } from "@connectrpc/connect";
import { expect } from "vitest";
import type { TestAuthority } from "../platform/auth/auth-testing.js";
import { createLogger } from "../platform/observability/logger.js";
import { createScratchDatabase, testAuthority } from "../platform/testing.js";
import { developmentAdmin, loadAccountConfig } from "../services/account/config.js";
import { startAccountService } from "../services/account/main.js";
import { loadCatalogConfig } from "../services/catalog/config.js";
import { startCatalogService } from "../services/catalog/main.js";
import { loadOrderConfig } from "../services/order/config.js";
import { startOrderService } from "../services/order/main.js";
import { backendUrls, createTransports } from "./clients.js";
import { type GatewayConfig, loadGatewayConfig } from "./config.js";
import { type RunningGateway, startGateway } from "./main.js";
import { httpReadiness } from "./readiness.js";
import { createGateway, type Gateway } from "./server.js";

export const silent = createLogger({
  service: "gateway-test",
  level: process.env.GATEWAY_TEST_LOG ?? "silent",
  pretty: false,
});

export const { email: adminEmail, password: adminPassword } = developmentAdmin;

export interface Stopper {
  stop(): Promise<void>;
}

export interface Stack {
  authority: TestAuthority;
  urls: { account: string; catalog: string; order: string };
  /** Each service's DATABASE_URL (a second replica of a service shares its database). */
  databaseUrls: { account: string; catalog: string; order: string };
  services: Stopper[];
  stop(): Promise<void>;
}

/** The real account, catalog and order services, on port 0, each with a fresh database. */
export async function startStack(env: Record<string, string> = {}): Promise<Stack> {
  const { authority } = testAuthority();
  const common = { PORT: "0", LOG_LEVEL: "silent" };
  const databases = await Promise.all([1, 2, 3].map(() => createScratchDatabase()));
  const [accountDb, catalogDb, orderDb] = databases.map((d) => ({ DATABASE_URL: d.url }));
  const account = await startAccountService(
    loadAccountConfig({
      ...common,
      ...accountDb,
      ...authority.env("account"),
      ADMIN_PASSWORD: adminPassword,
      ...env,
    }),
  );
  const catalog = await startCatalogService(
    loadCatalogConfig({
      ...common,
      ...catalogDb,
      ...authority.env("catalog"),
      ACCOUNT_URL: account.server.url,
      SEED_DEMO_DATA: "false",
      ...env,
    }),
  );
  const order = await startOrderService(
    loadOrderConfig({
      ...common,
      ...orderDb,
      ...authority.env("order"),
      ACCOUNT_URL: account.server.url,
      CATALOG_URL: catalog.server.url,
      RECOVERY_INTERVAL_MS: "0",
      ...env,
    }),
  );
  const services = [order, catalog, account];
  return {
    authority,
    urls: { account: account.server.url, catalog: catalog.server.url, order: order.server.url },
    databaseUrls: {
      account: databases[0]?.url ?? "",
      catalog: databases[1]?.url ?? "",
      order: databases[2]?.url ?? "",
    },
    services,
    stop: async () => {
      for (const service of services) await service.stop();
      for (const database of databases) await database.drop();
    },
  };
}

export interface Rpc {
  method: string;
  headers: Headers;
}

export interface TestGateway {
  gateway: Gateway;
  config: GatewayConfig;
  /** Every backend RPC made since the last `rpcs.length = 0`. */
  rpcs: Rpc[];
  gql<T = Record<string, unknown>>(
    query: string,
    options?: {
      variables?: Record<string, unknown>;
      token?: string;
      headers?: Record<string, string>;
    },
  ): Promise<GqlResult<T>>;
  close(): void;
}

export interface GqlError {
  message: string;
  path?: (string | number)[];
  extensions?: {
    code?: string;
    fields?: { field: string; message: string }[];
    productId?: string;
    [key: string]: unknown;
  };
}

export interface GqlResult<T> {
  status: number;
  headers: Headers;
  data: T | null | undefined;
  errors: GqlError[] | undefined;
  /** The first error's extensions.code. */
  code: string | undefined;
}

/** The gateway as its process runs it, listening on a free port of 127.0.0.1, over `urls`. */
export function listeningGateway(
  urls: { account: string; catalog: string; order: string },
  env: Record<string, string> = {},
): Promise<RunningGateway> {
  return startGateway(
    loadGatewayConfig({
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "silent",
      ACCOUNT_URL: urls.account,
      CATALOG_URL: urls.catalog,
      ORDER_URL: urls.order,
      ...env,
    }),
    { logger: silent },
  );
}

/** A gateway over `urls` (default: the stack's), counting the RPCs its transports make. */
export function testGateway(
  urls: { account: string; catalog: string; order: string },
  env: Record<string, string> = {},
): TestGateway {
  const config = loadGatewayConfig({
    PORT: "0",
    LOG_LEVEL: "silent",
    ACCOUNT_URL: urls.account,
    CATALOG_URL: urls.catalog,
    ORDER_URL: urls.order,
    ...env,
  });
  const rpcs: Rpc[] = [];
  const counter: Interceptor = (next) => async (req) => {
    rpcs.push({ method: `${req.service.typeName}/${req.method.name}`, headers: req.header });
    return next(req);
  };
  const made = createTransports(config, [counter]);
  const gateway = createGateway({
    config,
    transports: made.transports,
    logger: silent,
    ready: httpReadiness(backendUrls(config)),
  });
  return {
    gateway,
    config,
    rpcs,
    close: made.close,
    async gql<T>(
      query: string,
      options: {
        variables?: Record<string, unknown>;
        token?: string;
        headers?: Record<string, string>;
      } = {},
    ) {
      const headers: Record<string, string> = {
        "content-type": "application/json",
        accept: "application/graphql-response+json, application/json",
        ...options.headers,
      };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      const res = await gateway.fetch("http://gateway.test/graphql", {
        method: "POST",
        headers,
        body: JSON.stringify({ query, variables: options.variables }),
      });
      const body = (await res.json()) as { data?: T | null; errors?: GqlError[] };
      return {
        status: res.status,
        headers: res.headers,
        data: body.data,
        errors: body.errors,
        code: body.errors?.[0]?.extensions?.code,
      } satisfies GqlResult<T>;
    },
  };
}

export interface Customer {
  id: string;
  email: string;
  token: string;
}

export interface ShopProduct {
  id: string;
  name: string;
  price: number;
}

/** The stack and a gateway over it, the admin logged in, with helpers that check each step. */
export interface GatewayTestbed {
  stack: Stack;
  gw: TestGateway;
  adminToken: string;
  signUp(name: string, email: string, password?: string): Promise<Customer>;
  logIn(email: string, password: string): Promise<string>;
  createProduct(
    name: string,
    price: number,
    stock: number,
    description?: string,
  ): Promise<ShopProduct>;
  order(
    token: string,
    items: [string, number][],
    extra?: Record<string, unknown>,
  ): Promise<GqlResult<{ createOrder: { id: string; totalPrice: number } }>>;
  close(): Promise<void>;
}

export async function openGatewayTestbed(
  env: Record<string, string> = {},
): Promise<GatewayTestbed> {
  const stack = await startStack(env);
  const gw = testGateway(stack.urls);
  const logIn = async (email: string, password: string) => {
    const res = await gw.gql<{ login: { token: string } }>(
      `mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`,
      { variables: { e: email, p: password } },
    );
    expect(res.errors).toBeUndefined();
    return res.data?.login.token as string;
  };
  const adminToken = await logIn(adminEmail, adminPassword);
  return {
    stack,
    gw,
    adminToken,
    logIn,
    async signUp(name, email, password = "correct horse") {
      const created = await gw.gql<{ createAccount: { id: string } }>(
        `mutation ($a: AccountInput!) { createAccount(account: $a) { id } }`,
        { variables: { a: { name, email, password } } },
      );
      expect(created.errors).toBeUndefined();
      const token = await logIn(email, password);
      return { id: created.data?.createAccount.id as string, email, token };
    },
    async createProduct(name, price, stock, description = "") {
      const res = await gw.gql<{ createProduct: ShopProduct }>(
        `mutation ($p: ProductInput!) { createProduct(product: $p) { id name price } }`,
        { variables: { p: { name, description, price, stock } }, token: adminToken },
      );
      expect(res.errors).toBeUndefined();
      return res.data?.createProduct as ShopProduct;
    },
    order(token, items, extra = {}) {
      return gw.gql(`mutation ($o: OrderInput!) { createOrder(order: $o) { id totalPrice } }`, {
        variables: {
          o: { products: items.map(([id, quantity]) => ({ id, quantity })), ...extra },
        },
        token,
      });
    },
    async close() {
      gw.close();
      await stack.stop();
    },
  };
}

export interface Shop {
  ada: Customer;
  bob: Customer;
  /** Fountain pen 19.99 (50 in stock), Notebook 4.50 (100), Eraser 0.10 (2), in that order. */
  products: ShopProduct[];
}

/** Two customers and three products, made through the gateway. */
export async function seedShop(t: GatewayTestbed): Promise<Shop> {
  const [ada, bob] = await Promise.all([
    t.signUp("Ada Lovelace", "ada@example.com"),
    t.signUp("Bob Builder", "bob@example.com"),
  ]);
  const products = [
    await t.createProduct("Fountain pen", 19.99, 50, "A blue fountain pen with a steel nib"),
    await t.createProduct("Notebook", 4.5, 100, "Dotted paper, A5"),
    await t.createProduct("Eraser", 0.1, 2, "Soft white eraser"),
  ];
  return { ada, bob, products };
}

/** A port nothing listens on. */
export async function deadUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
