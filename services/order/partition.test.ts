// Issue 11 item 1: the order service partitioned from the catalog for longer than the
// reservation TTL. Orders confirmed just before the cut never get their CommitReservation
// through; the catalog's sweeper must not give their stock back on a timer. It asks the order
// service (GetOrderOutcome, also cut off), waits, and settles once the network heals. Stock
// reconciles exactly: initial − current = Σ quantities of CONFIRMED orders.
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTcpProxy, type TcpProxy, targetOf } from "../../faults/tcp-proxy.js";
import { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import { CatalogService } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { OrderService } from "../../gen/bazaar/order/v1/order_pb.js";
import { openSql } from "../../platform/data/postgres-connection.js";
import type { HostedService } from "../../platform/host.js";
import { createScratchDatabase, testAuthority, waitUntil } from "../../platform/testing.js";
import { loadAccountConfig } from "../account/config.js";
import { startAccountService } from "../account/main.js";
import { loadCatalogConfig } from "../catalog/config.js";
import { startCatalogService } from "../catalog/main.js";
import { loadOrderConfig } from "./config.js";
import { type HostedOrderService, startOrderService } from "./main.js";
import { adminAuth, customer, product } from "./testing.js";

const ttlSeconds = 1;
const stockEach = 1000;

describe("a partition between order and catalog", () => {
  const { authority } = testAuthority();
  const drops: (() => Promise<void>)[] = [];
  const stops: (() => Promise<void>)[] = [];
  let toCatalog: TcpProxy;
  let toOrder: TcpProxy;
  let catalogDb: postgres.Sql;
  let orderDb: postgres.Sql;
  let catalogService: HostedService<Record<string, unknown>>;
  let order: HostedOrderService;
  let orders: Client<typeof OrderService>;
  let catalog: Client<typeof CatalogService>;

  beforeAll(async () => {
    const common = { LOG_LEVEL: "silent", NODE_ENV: "test", PORT: "0" };
    const [a, c, o] = await Promise.all([1, 2, 3].map(() => createScratchDatabase()));
    if (!a || !c || !o) throw new Error("no databases");
    drops.push(a.drop, c.drop, o.drop);
    [toCatalog, toOrder] = await Promise.all([startTcpProxy(), startTcpProxy()]);
    stops.push(toCatalog.close, toOrder.close);
    const account = await startAccountService(
      loadAccountConfig({ ...common, ...authority.env("account"), DATABASE_URL: a.url }),
    );
    stops.push(account.stop);
    catalogService = await startCatalogService(
      loadCatalogConfig({
        ...common,
        ...authority.env("catalog"),
        ACCOUNT_URL: account.server.url,
        DATABASE_URL: c.url,
        RESERVATION_TTL_SECONDS: String(ttlSeconds),
        SWEEP_INTERVAL_SECONDS: "1",
        ORDER_URL: toOrder.url,
        PEER_TIMEOUT_MS: "300",
      }),
    );
    stops.push(catalogService.stop);
    order = await startOrderService(
      loadOrderConfig({
        ...common,
        ...authority.env("order"),
        DATABASE_URL: o.url,
        ACCOUNT_URL: account.server.url,
        CATALOG_URL: toCatalog.url,
        PEER_TIMEOUT_MS: "400",
        RECOVERY_INTERVAL_MS: "0",
      }),
    );
    stops.push(order.stop);
    toCatalog.target = targetOf(catalogService.server.url);
    toOrder.target = targetOf(order.server.url);
    const connect = (url: string) => createConnectTransport({ baseUrl: url, httpVersion: "1.1" });
    orders = createClient(OrderService, connect(order.server.url));
    catalog = createClient(CatalogService, connect(catalogService.server.url));
    (globalThis as { accounts?: Client<typeof AccountService> }).accounts = createClient(
      AccountService,
      connect(account.server.url),
    );
    catalogDb = openSql(c.url, { max: 2 });
    orderDb = openSql(o.url, { max: 2 });
  });

  afterAll(async () => {
    await catalogDb?.end();
    await orderDb?.end();
    for (const stop of stops.reverse()) await stop().catch(() => {});
    for (const drop of drops) await drop();
  });

  const confirmedUncommitted = async () => {
    const rows = await orderDb`select id from orders where status = 'confirmed' and not settled`;
    return rows.length;
  };

  it("holds confirmed orders' stock across the TTL and reconciles exactly after", async () => {
    const accounts = (globalThis as { accounts?: Client<typeof AccountService> }).accounts;
    if (!accounts) throw new Error("no accounts client");
    const buyer = await customer(accounts, authority);
    const admin = await adminAuth(authority);
    const products = await Promise.all(
      [1, 2, 3].map(() => product(catalog, admin, 500, stockEach)),
    );

    // A burst of orders; the network is cut both ways the moment the first CommitReservation
    // or BatchCommitReservations leaves the order service (orders placed together share one,
    // so a burst may send no lone commit at all): those orders are confirmed and their commit
    // never arrives.
    toCatalog.cutAt("CommitReservation", () => toOrder.cut());
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        orders
          .createOrder(
            { items: [{ productId: products[i % 3] ?? "", quantity: 1 + (i % 3) }] },
            buyer.auth,
          )
          .catch(() => undefined),
      ),
    );
    // The commits go out once their orders are answered: wait for the one that was cut off.
    await waitUntil(
      "a confirmed order left uncommitted",
      async () => (await confirmedUncommitted()) > 0,
      {
        timeoutMs: 10_000,
      },
    );
    const inDoubt = await confirmedUncommitted();
    expect(inDoubt).toBeGreaterThan(0);

    // Past the TTL and a few sweeps, still cut off: the confirmed orders' stock stays held.
    await new Promise((resolve) => setTimeout(resolve, (ttlSeconds + 3) * 1000));
    const confirmedIds = (await orderDb`select id from orders where status = 'confirmed'`).map(
      (row) => row.id as string,
    );
    const released = await catalogDb`
      select order_id from reservations where state = 'released' and order_id = any(${confirmedIds}::uuid[])`;
    expect(released).toEqual([]);
    const metrics = await (await fetch(`${catalogService.server.url}/metrics`)).text();
    const units = Number(
      /^catalog_reservations_in_doubt_units(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1],
    );
    expect(units).toBeGreaterThan(0);

    // Healed: recovery commits and releases; the sweeper settles what it still holds.
    toCatalog.heal();
    toOrder.heal();
    await order.recover();
    const deadline = Date.now() + 20_000;
    let pending = -1;
    while (Date.now() < deadline) {
      pending = (await catalogDb`select 1 from reservations where state = 'pending'`).length;
      const unsettled = (await orderDb`select 1 from orders where not settled`).length;
      if (pending === 0 && unsettled === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
      if (unsettled > 0) await order.recover();
    }
    expect(pending).toBe(0);

    const [sold] = await orderDb`
      select coalesce(sum(i.quantity), 0)::int as units from order_items i
      join orders o on o.id = i.order_id where o.status = 'confirmed'`;
    const [left] = await catalogDb`
      select sum(stock)::int as units from product_stock where product_id = any(${products}::uuid[])`;
    expect(3 * stockEach - (left?.units as number)).toBe(sold?.units);
    expect((await orderDb`select 1 from orders where status = 'pending'`).length).toBe(0);
  }, 120_000);
});
