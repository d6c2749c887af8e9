// What a newcomer meets first at the gateway: CORS for a page on another localhost port,
// readiness that survives one service being down (partial results instead), and one log line
// per GraphQL operation.
import { Writable } from "node:stream";
import { buildSchema, parse, validate } from "graphql";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backendUrls, createTransports } from "./clients.js";
import { loadGatewayConfig } from "./config.js";
import { defaultQuery } from "./graphiql.js";
import { httpReadiness } from "./readiness.js";
import { createGateway, typeDefs } from "./server.js";
import {
  type Customer,
  deadUrl,
  type GatewayTestbed,
  openGatewayTestbed,
  seedShop,
  testGateway,
} from "./testing.js";

let t: GatewayTestbed;
let ada: Customer;

beforeAll(async () => {
  t = await openGatewayTestbed();
  ({ ada } = await seedShop(t));
});

afterAll(async () => {
  await t?.close();
});

describe("CORS", () => {
  const page = "http://localhost:5174";

  it("answers a preflight from another localhost origin in development", async () => {
    const res = await t.gw.gateway.fetch("http://gateway.test/graphql", {
      method: "OPTIONS",
      headers: {
        origin: page,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, authorization",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(page);
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
    expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toContain(
      "authorization",
    );
  });

  it("marks the answer to that origin readable, with its request id", async () => {
    const res = await t.gw.gateway.fetch("http://gateway.test/graphql", {
      method: "POST",
      headers: { origin: page, "content-type": "application/json" },
      body: JSON.stringify({ query: "{ products { id } }" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe(page);
    expect(res.headers.get("access-control-expose-headers")).toContain("X-Request-Id");
  });

  it("refuses other origins, and in production every origin not in CORS_ORIGINS", async () => {
    const preflight = (gw: ReturnType<typeof testGateway>, origin: string) =>
      gw.gateway.fetch("http://gateway.test/graphql", {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST" },
      });
    const evil = await preflight(t.gw, "https://evil.example");
    expect(evil.status).toBe(403);
    expect(await evil.text()).toContain("CORS_ORIGINS");
    const production = testGateway(t.stack.urls, {
      NODE_ENV: "production",
      CORS_ORIGINS: "https://shop.example.com",
    });
    try {
      expect((await preflight(production, page)).status).toBe(403);
      const shop = await preflight(production, "https://shop.example.com");
      expect(shop.status).toBe(204);
      expect(shop.headers.get("access-control-allow-origin")).toBe("https://shop.example.com");
    } finally {
      production.close();
    }
  });
});

describe("with the order service down", () => {
  it("answers what it can, UNAVAILABLE on the order field, and stays ready", async () => {
    const down = testGateway({ ...t.stack.urls, order: await deadUrl() });
    try {
      const res = await down.gql<{ products: { id: string }[]; me: unknown }>(
        "{ products { id } me { name orders { id } } }",
        { token: ada.token },
      );
      expect(res.status).toBe(200);
      expect(res.data?.products.length).toBe(3);
      expect(res.errors).toHaveLength(1);
      expect(res.errors?.[0]).toMatchObject({
        path: ["me", "orders"],
        extensions: { code: "UNAVAILABLE" },
      });
      const ready = await down.gateway.fetch("http://gateway.test/readyz");
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({
        status: "ready",
        services: { account: "ready", catalog: "ready", order: "unreachable" },
      });
    } finally {
      down.close();
    }
  });
});

describe("the operation log", () => {
  it("writes one line per operation: name, duration, error codes, request id", async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const config = loadGatewayConfig({
      PORT: "0",
      ACCOUNT_URL: t.stack.urls.account,
      CATALOG_URL: t.stack.urls.catalog,
      ORDER_URL: await deadUrl(),
    });
    const made = createTransports(config);
    const gateway = createGateway({
      config,
      transports: made.transports,
      logger: pino({ level: "info" }, sink),
      ready: httpReadiness(backendUrls(config)),
    });
    try {
      const post = (query: unknown, requestId: string, operationName?: unknown) =>
        gateway.fetch("http://gateway.test/graphql", {
          method: "POST",
          headers: {
            "content-type": "application/json",
            authorization: `Bearer ${ada.token}`,
            "x-request-id": requestId,
          },
          body: JSON.stringify({ query, operationName }),
        });
      await post("query Shop { products { id } }", "req-shop");
      await post("query A { me { id } } query B { me { orders { id } } }", "req-b", "B");
      await post("{ nope }", "req-bad");
      // Parameters of any JSON type: logged, never a TypeError (the fuzzer's `{"query": 5}`).
      expect((await post(5, "req-5")).status).toBe(400);
      expect((await post({ x: 1 }, "req-object", ["A"])).status).toBe(400);
      await gateway.fetch("http://gateway.test/readyz");
      const graphql = lines.filter((l) => l.msg === "graphql");
      expect(graphql).toHaveLength(5);
      expect(graphql[0]).toMatchObject({ operation: "Shop", requestId: "req-shop" });
      expect(graphql[0]).not.toHaveProperty("errors");
      expect(graphql[0]?.ms).toBeTypeOf("number");
      expect(graphql[1]).toMatchObject({
        operation: "B",
        requestId: "req-b",
        errors: ["UNAVAILABLE"],
      });
      expect(graphql[2]).toMatchObject({
        operation: "anonymous",
        errors: ["GRAPHQL_VALIDATION_FAILED"],
      });
      for (const [line, requestId] of [
        [graphql[3], "req-5"],
        [graphql[4], "req-object"],
      ]) {
        expect(line).toMatchObject({ operation: "anonymous", requestId, errors: ["BAD_REQUEST"] });
      }
      expect(lines.filter((l) => l.msg !== "graphql")).toEqual([]);
    } finally {
      made.close();
    }
  });
});

describe("GraphiQL's first look", () => {
  it("has descriptions for the Docs pane", async () => {
    const res = await t.gw.gql<{ __type: { fields: { name: string; description: string }[] } }>(
      `{ __type(name: "Product") { fields { name description } } }`,
    );
    const price = res.data?.__type.fields.find((f) => f.name === "price");
    expect(price?.description).toMatch(/^Currency units/);
  });

  it("opens with a document that validates, including a createOrder example", () => {
    const errors = validate(buildSchema(typeDefs), parse(defaultQuery));
    expect(errors.map((e) => e.message)).toEqual([]);
    expect(defaultQuery).toMatch(/createOrder\(/);
    expect(defaultQuery).toContain('not "productId"');
  });
});
