// The catalog as it runs: startCatalogService on port 0, called over gRPC (h2c), Connect
// over HTTP/1.1 with a browser's CORS preflight, seeded with demo data, its sweeper live.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Code, createClient } from "@connectrpc/connect";
import {
  connectNodeAdapter,
  createConnectTransport,
  createGrpcTransport,
} from "@connectrpc/connect-node";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CatalogService, ReservationState } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { OrderOutcome, OrderService } from "../../gen/bazaar/order/v1/order_pb.js";
import { ConfigError } from "../../platform/config.js";
import { executeRows } from "../../platform/data/database.js";
import { uuidv7 } from "../../platform/data/ids.js";
import type { HostedService } from "../../platform/host.js";
import { createLogger } from "../../platform/observability/logger.js";
import { bearer, testAuthority, testDatabaseEnv } from "../../platform/testing.js";
import { loadAccountConfig } from "../account/config.js";
import { startAccountService } from "../account/main.js";
import { loadCatalogConfig } from "./config.js";
import { startCatalogService } from "./main.js";
import type * as schema from "./schema.js";

const silent = createLogger({ service: "test", level: "silent", pretty: false });

/** The account service the catalog asks for token versions (admin tokens' revocation). */
/** The account service the catalog asks for token versions, on a scratch database. */
async function startAccount(authority: ReturnType<typeof testAuthority>["authority"]) {
  const database = await testDatabaseEnv();
  const service = await startAccountService(
    loadAccountConfig({
      ...database.env,
      NODE_ENV: "test",
      PORT: "0",
      HOST: "127.0.0.1",
      ...authority.env("account"),
    }),
    { logger: silent },
  );
  return {
    ...service,
    stop: async () => {
      await service.stop();
      await database.drop();
    },
  };
}

import { loadSeedProducts } from "./seed.js";
import { rejection } from "./testing.js";

describe("the catalog server", () => {
  let service: HostedService<typeof schema>;
  let account: HostedService<Record<string, unknown>>;
  let drop: () => Promise<void>;
  const { authority } = testAuthority();
  // The order service, as far as the sweeper asks it: it never wrote any of these orders.
  const orderService = http.createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(OrderService, {
          getOrderOutcome: () => ({ outcome: OrderOutcome.UNKNOWN }),
        }),
    }),
  );

  beforeAll(async () => {
    const database = await testDatabaseEnv();
    drop = database.drop;
    account = await startAccount(authority);
    await new Promise<void>((resolve) => orderService.listen(0, "127.0.0.1", resolve));
    const orderPort = (orderService.address() as AddressInfo).port;
    service = await startCatalogService(
      loadCatalogConfig({
        ...database.env,
        NODE_ENV: "test",
        PORT: "0",
        HOST: "127.0.0.1",
        ...authority.env("catalog"),
        ACCOUNT_URL: account.server.url,
        SEED_DEMO_DATA: "true",
        RESERVATION_TTL_SECONDS: "1",
        SWEEP_INTERVAL_SECONDS: "1",
        ORDER_URL: `http://127.0.0.1:${orderPort}`,
        CORS_ORIGINS: "http://localhost:5173",
      }),
      { logger: createLogger({ service: "catalog", level: "silent", pretty: false }) },
    );
  });
  afterAll(async () => {
    await service?.stop();
    await account?.stop();
    await drop?.();
    await new Promise((resolve) => orderService.close(resolve));
  });

  const grpc = () =>
    createClient(CatalogService, createGrpcTransport({ baseUrl: service.server.url }));
  const connect = () =>
    createClient(
      CatalogService,
      createConnectTransport({ baseUrl: service.server.url, httpVersion: "1.1" }),
    );

  it("seeds the empty catalog with the demo products, in file order", async () => {
    const seed = await loadSeedProducts();
    expect(seed.length).toBeGreaterThanOrEqual(50);
    const { products } = await grpc().listProducts({ take: 100 });
    expect(products.map((p) => p.name)).toEqual(seed.map((p) => p.name));
    expect(products.map((p) => p.priceCents)).toEqual(seed.map((p) => BigInt(p.priceCents)));
  });

  it("searches, gets and batch-gets over gRPC", async () => {
    const client = grpc();
    const { products } = await client.listProducts({ query: "coffee grinder" });
    expect(products[0]?.name).toBe("Burr Coffee Grinder");
    const first = products[0];
    expect((await client.getProduct({ id: first?.id ?? "" })).product).toEqual(first);
    const { products: batch } = await client.batchGetProducts({ ids: [first?.id ?? ""] });
    expect(batch).toEqual([first]);
    expect((await rejection(client.getProduct({ id: uuidv7() }))).code).toBe(Code.NotFound);
  });

  it("creates products over Connect on HTTP/1.1 with an admin token", async () => {
    const admin = bearer((await authority.issueUserToken(uuidv7(), "admin", 600)).token);
    const { product } = await connect().createProduct(
      { name: "Espresso tamper, 58 mm", description: "", priceCents: 3500n, stock: 8 },
      admin,
    );
    const { products } = await connect().listProducts({ query: "tamper" });
    expect(products.map((p) => p.id)).toEqual([product?.id]);
    const error = await rejection(
      connect().createProduct({ name: "x", description: "", priceCents: 1n, stock: 1 }),
    );
    expect(error.code).toBe(Code.Unauthenticated);
  });

  it("answers a browser's CORS preflight and a plain Connect JSON call", async () => {
    const url = `${service.server.url}/bazaar.catalog.v1.CatalogService/ListProducts`;
    const preflight = await fetch(url, {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:5173",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,connect-protocol-version,authorization",
      },
    });
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
    const response = await fetch(url, {
      method: "POST",
      headers: {
        origin: "http://localhost:5173",
        "content-type": "application/json",
        "connect-protocol-version": "1",
      },
      body: JSON.stringify({ query: "tea", take: 2 }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    const body = (await response.json()) as { products: { priceCents: string }[] };
    expect(body.products).toHaveLength(2);
    expect(typeof body.products[0]?.priceCents).toBe("string");
    const foreign = await fetch(url, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("reserves for a service over gRPC, and the sweeper releases it once expired and no order has it", async () => {
    const client = grpc();
    const service_ = bearer(await authority.issueServiceToken("order"));
    const { products } = await client.listProducts({ query: "moka pot" });
    const product = products[0];
    if (!product) throw new Error("seed has no moka pot");
    const orderId = uuidv7();
    const { reservation } = await client.reserveStock(
      { orderId, items: [{ productId: product.id, quantity: 2 }] },
      service_,
    );
    expect(reservation?.state).toBe(ReservationState.PENDING);
    expect((await client.getProduct({ id: product.id })).product?.stock).toBe(product.stock - 2);
    const customer = bearer((await authority.issueUserToken(uuidv7(), "customer", 600)).token);
    expect((await rejection(client.releaseStock({ orderId }, customer))).code).toBe(
      Code.PermissionDenied,
    );
    // TTL 1 s, sweep every 1 s.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { reservation: current } = await client.reserveStock(
        { orderId, items: [{ productId: product.id, quantity: 2 }] },
        service_,
      );
      if (current?.state === ReservationState.RELEASED) break;
      if (Date.now() > deadline) throw new Error("the sweeper never released the reservation");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect((await client.getProduct({ id: product.id })).product?.stock).toBe(product.stock);
  });
});

describe("the catalog server with OpenSearch unreachable", () => {
  let service: HostedService<typeof schema>;
  let drop: () => Promise<void>;
  let account: HostedService<Record<string, unknown>>;
  const { authority } = testAuthority();

  beforeAll(async () => {
    const database = await testDatabaseEnv();
    drop = database.drop;
    account = await startAccount(authority);
    service = await startCatalogService(
      loadCatalogConfig({
        ...database.env,
        NODE_ENV: "test",
        PORT: "0",
        HOST: "127.0.0.1",
        ...authority.env("catalog"),
        ACCOUNT_URL: account.server.url,
        // Nothing listens on the discard port.
        OPENSEARCH_URL: "http://127.0.0.1:9",
      }),
      { logger: createLogger({ service: "catalog", level: "silent", pretty: false }) },
    );
  });
  afterAll(async () => {
    await service?.stop();
    await account?.stop();
    await drop?.();
  });

  it("starts, answers search from PostgreSQL, and keeps every write in the event outbox", async () => {
    const client = createClient(
      CatalogService,
      createGrpcTransport({ baseUrl: service.server.url }),
    );
    const admin = bearer((await authority.issueUserToken(uuidv7(), "admin", 600)).token);
    const { product } = await client.createProduct(
      { name: "Fallback lantern", description: "", priceCents: 1200n, stock: 3 },
      admin,
    );
    const { products } = await client.listProducts({ query: "lantern" });
    expect(products.map((p) => p.id)).toEqual([product?.id]);
    // Its ProductCreated waits in the outbox for the indexer (and the relay).
    const events = await executeRows<{ subject: string; thing_id: string }>(
      service.database.db,
      sql`select subject, thing_id from outbox order by id`,
    );
    expect(events).toEqual([
      { subject: "bazaar.catalog.v1.ProductCreated", thing_id: product?.id },
    ]);
  });
});

describe("loadCatalogConfig", () => {
  it("defaults to port 50052, a 15-minute reservation TTL and PostgreSQL search", () => {
    const config = loadCatalogConfig({});
    expect(config.PORT).toBe(50052);
    expect(config.RESERVATION_TTL_SECONDS).toBe(900);
    expect(config.OPENSEARCH_URL).toBeUndefined();
  });

  it("seeds demo data by default only in development", () => {
    expect(loadCatalogConfig({}).SEED_DEMO_DATA).toBe(true);
    expect(loadCatalogConfig({ NODE_ENV: "test" }).SEED_DEMO_DATA).toBe(false);
    expect(loadCatalogConfig({ NODE_ENV: "production", AUTH_SECRET: "x" }).SEED_DEMO_DATA).toBe(
      false,
    );
    expect(loadCatalogConfig({ NODE_ENV: "test", SEED_DEMO_DATA: "yes" }).SEED_DEMO_DATA).toBe(
      true,
    );
    expect(loadCatalogConfig({ SEED_DEMO_DATA: "false" }).SEED_DEMO_DATA).toBe(false);
  });

  it("names each bad variable", () => {
    expect(() =>
      loadCatalogConfig({ RESERVATION_TTL_SECONDS: "0", OPENSEARCH_URL: "not a url" }),
    ).toThrow(ConfigError);
    try {
      loadCatalogConfig({ RESERVATION_TTL_SECONDS: "0", OPENSEARCH_URL: "not a url" });
    } catch (error) {
      expect(String(error)).toMatch(/RESERVATION_TTL_SECONDS must be at least 1/);
      expect(String(error)).toMatch(/OPENSEARCH_URL/);
    }
  });
});
