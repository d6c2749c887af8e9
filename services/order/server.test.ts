// The three services as real servers on port 0, talking over the network: the happy path over
// Connect and gRPC, peers stopped and restarted, and an order process restarted mid-saga.
import { type Client, Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import { CatalogService } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { OrderService } from "../../gen/bazaar/order/v1/order_pb.js";
import type { TestAuthority } from "../../platform/auth/auth-testing.js";
import { uuidv7 } from "../../platform/data/ids.js";
import type { HostedService } from "../../platform/host.js";
import { bearer, rejection, testAuthority, testDatabaseEnv } from "../../platform/testing.js";
import { loadAccountConfig } from "../account/config.js";
import { startAccountService } from "../account/main.js";
import { loadCatalogConfig } from "../catalog/config.js";
import { startCatalogService } from "../catalog/main.js";
import { loadOrderConfig } from "./config.js";
import { type HostedOrderService, startOrderService } from "./main.js";
import { OrderStore } from "./store.js";
import { adminAuth, customer, product, stockOf } from "./testing.js";

function connectClient<
  T extends typeof OrderService | typeof CatalogService | typeof AccountService,
>(service: T, url: string): Client<T> {
  return createClient(service, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
}

describe("order, account and catalog servers", () => {
  let authority: TestAuthority;
  const drops: (() => Promise<void>)[] = [];
  let accountEnv: Record<string, string>;
  let catalogEnv: Record<string, string>;
  let orderEnv: Record<string, string>;
  let account: HostedService<Record<string, unknown>>;
  let catalogService: HostedService<Record<string, unknown>>;
  let order: HostedOrderService;
  let accounts: Client<typeof AccountService>;
  let catalog: Client<typeof CatalogService>;
  let orders: Client<typeof OrderService>;
  let admin: ReturnType<typeof bearer>;

  const common = () => ({ LOG_LEVEL: "silent", NODE_ENV: "test" });
  const startCatalog = async (port: string) =>
    startCatalogService(
      loadCatalogConfig({ ...common(), ...authority.env("catalog"), ...catalogEnv, PORT: port }),
    );
  const startOrder = async (extra: Record<string, string> = {}) =>
    startOrderService(
      loadOrderConfig({
        ...common(),
        ...authority.env("order"),
        ...orderEnv,
        PORT: "0",
        ...extra,
      }),
    );

  beforeAll(async () => {
    ({ authority } = testAuthority());
    const [a, c, o] = await Promise.all([testDatabaseEnv(), testDatabaseEnv(), testDatabaseEnv()]);
    drops.push(a.drop, c.drop, o.drop);
    accountEnv = a.env;
    account = await startAccountService(
      loadAccountConfig({ ...common(), ...authority.env("account"), ...accountEnv, PORT: "0" }),
    );
    catalogEnv = { ...c.env, ACCOUNT_URL: account.server.url };
    catalogService = await startCatalog("0");
    orderEnv = {
      ...o.env,
      ACCOUNT_URL: account.server.url,
      CATALOG_URL: catalogService.server.url,
      PEER_TIMEOUT_MS: "2000",
      RECOVERY_INTERVAL_MS: "0",
    };
    order = await startOrder();
    accounts = connectClient(AccountService, account.server.url);
    catalog = connectClient(CatalogService, catalogService.server.url);
    orders = connectClient(OrderService, order.server.url);
    admin = await adminAuth(authority);
  });

  afterAll(async () => {
    await Promise.allSettled([order?.stop(), catalogService?.stop(), account?.stop()]);
    await Promise.allSettled(drops.map((drop) => drop()));
  });

  it("places an order over Connect and gRPC with exact totals, and lists it", async () => {
    const ada = await customer(accounts, authority);
    const ten = await product(catalog, admin, 10, 5);
    const twenty = await product(catalog, admin, 20, 5);
    const { order: placed } = await orders.createOrder(
      {
        items: [
          { productId: ten, quantity: 1 },
          { productId: twenty, quantity: 1 },
        ],
      },
      ada.auth,
    );
    expect(placed?.totalCents).toBe(30n);
    const grpc = createClient(OrderService, createGrpcTransport({ baseUrl: order.server.url }));
    const { orders: listed } = await grpc.listOrdersForAccount({ accountId: ada.id }, ada.auth);
    expect(listed.map((o) => o.id)).toEqual([placed?.id]);
    const { order: second } = await grpc.createOrder(
      { items: [{ productId: ten, quantity: 2 }] },
      ada.auth,
    );
    expect(second?.totalCents).toBe(20n);
    expect(await stockOf(catalog, ten)).toBe(2);
    expect(await stockOf(catalog, twenty)).toBe(4);
  });

  it("refuses a user token at the catalog's internal RPCs", async () => {
    const ada = await customer(accounts, authority);
    const p = await product(catalog, admin, 10, 5);
    const error = await rejection(
      catalog.reserveStock({ orderId: uuidv7(), items: [{ productId: p, quantity: 5 }] }, ada.auth),
    );
    expect(error.code).toBe(Code.PermissionDenied);
    expect(await stockOf(catalog, p)).toBe(5);
  });

  it("answers UNAVAILABLE while the catalog is stopped, and loses nothing", async () => {
    const ada = await customer(accounts, authority);
    const p = await product(catalog, admin, 10, 5);
    const port = String(catalogService.server.port);
    await catalogService.stop();
    const started = Date.now();
    const error = await rejection(
      orders.createOrder(
        { items: [{ productId: p, quantity: 2 }], idempotencyKey: "k1" },
        ada.auth,
      ),
    );
    expect(error.code).toBe(Code.Unavailable);
    expect(Date.now() - started).toBeLessThan(5_000);
    catalogService = await startCatalog(port);
    expect(await stockOf(catalog, p)).toBe(5);
    expect((await orders.listOrdersForAccount({ accountId: ada.id }, ada.auth)).orders).toEqual([]);
    // Back up: the same key is a fresh attempt, and it succeeds.
    const { order: placed } = await orders.createOrder(
      { items: [{ productId: p, quantity: 2 }], idempotencyKey: "k1" },
      ada.auth,
    );
    expect(placed?.totalCents).toBe(20n);
    expect(await stockOf(catalog, p)).toBe(3);
  });

  it("completes or fails an order whose process was killed mid-saga, on restart", async () => {
    const ada = await customer(accounts, authority);
    const p = await product(catalog, admin, 10, 10);
    const service = bearer(await authority.issueServiceToken("order"));
    // The state a process killed between ReserveStock and writing the order leaves.
    const store = new OrderStore(order.database.db);
    const id = uuidv7();
    await store.attempts.begin({ id, accountId: ada.id, idempotencyKey: "crash" });
    await catalog.reserveStock({ orderId: id, items: [{ productId: p, quantity: 6 }] }, service);
    expect(await stockOf(catalog, p)).toBe(4);
    await order.stop();
    order = await startOrder({ RECOVERY_AFTER_MS: "0" });
    orders = connectClient(OrderService, order.server.url);
    await order.recover();
    expect(await stockOf(catalog, p)).toBe(10);
    expect((await orders.listOrdersForAccount({ accountId: ada.id }, ada.auth)).orders).toEqual([]);
    const { order: retried } = await orders.createOrder(
      { items: [{ productId: p, quantity: 6 }], idempotencyKey: "crash" },
      ada.auth,
    );
    expect(retried?.id).not.toBe(id);
    expect(await stockOf(catalog, p)).toBe(4);
  });

  it("answers UNAVAILABLE while the account service is stopped", async () => {
    const ada = await customer(accounts, authority);
    const p = await product(catalog, admin, 10, 5);
    await account.stop();
    const error = await rejection(
      orders.createOrder({ items: [{ productId: p, quantity: 1 }] }, ada.auth),
    );
    expect(error.code).toBe(Code.Unavailable);
    expect(await stockOf(catalog, p)).toBe(5);
  });
});
