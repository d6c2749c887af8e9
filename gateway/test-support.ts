// Test support: the three real services on port 0 (each on its own fresh database), a
// gateway over them whose client transports count every backend RPC, and a small GraphQL client
// that goes through the gateway's fetch handler.
import type { Interceptor } from "@connectrpc/connect";
import type { TestAuthority } from "../platform/auth-testing.js";
import { createLogger } from "../platform/logger.js";
import { createScratchDatabase, testAuthority } from "../platform/testing.js";
import { developmentAdmin, loadAccountConfig } from "../services/account/config.js";
import { startAccountService } from "../services/account/main.js";
import { loadCatalogConfig } from "../services/catalog/config.js";
import { startCatalogService } from "../services/catalog/main.js";
import { loadOrderConfig } from "../services/order/config.js";
import { startOrderService } from "../services/order/main.js";
import { backendUrls, createTransports } from "./clients.js";
import { type GatewayConfig, loadGatewayConfig } from "./config.js";
import { createGateway, type Gateway, httpReadiness } from "./server.js";

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
