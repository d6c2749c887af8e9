// The gateway through its fetch handler against the real account, catalog and order services:
// every query and mutation of the SDL, every error code of the spec's table, the DataLoader
// bound, the limits, and the HTTP surface (probes, metrics, GraphiQL, request ids).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadGatewayConfig } from "./config.js";
import { startGateway } from "./main.js";
import { priceToCents } from "./money.js";
import {
  adminEmail,
  adminPassword,
  type Stack,
  silent,
  startStack,
  type TestGateway,
  testGateway,
} from "./testing.js";

let stack: Stack;
let gw: TestGateway;
let adminToken: string;

interface Customer {
  id: string;
  email: string;
  token: string;
}

let ada: Customer;
let bob: Customer;
const products: { id: string; name: string; price: number }[] = [];

async function signUp(name: string, email: string, password = "correct horse"): Promise<Customer> {
  const created = await gw.gql<{ createAccount: { id: string } }>(
    `mutation ($a: AccountInput!) { createAccount(account: $a) { id } }`,
    { variables: { a: { name, email, password } } },
  );
  expect(created.errors).toBeUndefined();
  const token = await logIn(email, password);
  return { id: created.data?.createAccount.id as string, email, token };
}

async function logIn(email: string, password: string): Promise<string> {
  const res = await gw.gql<{ login: { token: string } }>(
    `mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`,
    { variables: { e: email, p: password } },
  );
  expect(res.errors).toBeUndefined();
  return res.data?.login.token as string;
}

async function createProduct(name: string, price: number, stock: number, description = "") {
  const res = await gw.gql<{ createProduct: { id: string; name: string; price: number } }>(
    `mutation ($p: ProductInput!) { createProduct(product: $p) { id name price } }`,
    { variables: { p: { name, description, price, stock } }, token: adminToken },
  );
  expect(res.errors).toBeUndefined();
  const product = res.data?.createProduct as { id: string; name: string; price: number };
  products.push(product);
  return product;
}

async function order(
  token: string,
  items: [string, number][],
  extra: Record<string, unknown> = {},
) {
  return gw.gql<{ createOrder: { id: string; totalPrice: number } }>(
    `mutation ($o: OrderInput!) { createOrder(order: $o) { id totalPrice } }`,
    {
      variables: { o: { products: items.map(([id, quantity]) => ({ id, quantity })), ...extra } },
      token,
    },
  );
}

/** A port nothing listens on. */
async function deadUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

beforeAll(async () => {
  stack = await startStack({ LOGIN_MAX_FAILURES: "3" });
  gw = testGateway(stack.urls);
  adminToken = await logIn(adminEmail, adminPassword);
  [ada, bob] = await Promise.all([
    signUp("Ada Lovelace", "ada@example.com"),
    signUp("Bob Builder", "bob@example.com"),
  ]);
  await createProduct("Fountain pen", 19.99, 50, "A blue fountain pen with a steel nib");
  await createProduct("Notebook", 4.5, 100, "Dotted paper, A5");
  await createProduct("Eraser", 0.1, 2, "Soft white eraser");
});

afterAll(async () => {
  gw?.close();
  await stack?.stop();
});

describe("queries", () => {
  it("lists products oldest first, with prices in currency units, and pages through them", async () => {
    const res = await gw.gql<{ products: { id: string; name: string; price: number }[] }>(
      `{ products(pagination: { skip: 0, take: 2 }) { id name price stock description createdAt } }`,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data?.products.map((p) => [p.name, p.price])).toEqual([
      ["Fountain pen", 19.99],
      ["Notebook", 4.5],
    ]);
    const next = await gw.gql<{ products: { name: string }[] }>(
      `{ products(pagination: { skip: 2 }) { name } }`,
    );
    expect(next.data?.products.map((p) => p.name)).toEqual(["Eraser"]);
  });

  it("reads one product by id, and [] for an unknown id", async () => {
    const pen = products[0];
    const res = await gw.gql<{ products: { id: string; createdAt: string }[] }>(
      `query ($id: ID) { products(id: $id) { id createdAt } }`,
      { variables: { id: pen?.id } },
    );
    expect(res.data?.products).toHaveLength(1);
    expect(res.data?.products[0]?.id).toBe(pen?.id);
    expect(new Date(res.data?.products[0]?.createdAt as string).toISOString()).toBe(
      res.data?.products[0]?.createdAt,
    );
    const none = await gw.gql(`{ products(id: "01890000-0000-7000-8000-000000000000") { id } }`);
    expect(none.data).toEqual({ products: [] });
  });

  it("searches products by text", async () => {
    const res = await gw.gql<{ products: { name: string }[] }>(
      `{ products(query: "fountain") { name } }`,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data?.products.map((p) => p.name)).toEqual(["Fountain pen"]);
  });

  it("me is null without a token and the caller's account with one", async () => {
    expect((await gw.gql(`{ me { id } }`)).data).toEqual({ me: null });
    const res = await gw.gql(`{ me { id name email role createdAt } }`, { token: ada.token });
    expect(res.data).toMatchObject({
      me: { id: ada.id, name: "Ada Lovelace", email: "ada@example.com", role: "CUSTOMER" },
    });
  });

  it("accounts: an admin lists them; a customer reads only itself", async () => {
    const all = await gw.gql<{ accounts: { email: string; role: string }[] }>(
      `{ accounts(pagination: { take: 100 }) { email role } }`,
      { token: adminToken },
    );
    expect(all.errors).toBeUndefined();
    expect(all.data?.accounts).toEqual(
      expect.arrayContaining([
        { email: adminEmail, role: "ADMIN" },
        { email: "ada@example.com", role: "CUSTOMER" },
        { email: "bob@example.com", role: "CUSTOMER" },
      ]),
    );
    const self = await gw.gql(`query ($id: ID) { accounts(id: $id) { email } }`, {
      variables: { id: ada.id },
      token: ada.token,
    });
    expect(self.data).toEqual({ accounts: [{ email: "ada@example.com" }] });
    const unknown = await gw.gql(
      `{ accounts(id: "01890000-0000-7000-8000-000000000000") { email } }`,
      { token: adminToken },
    );
    expect(unknown.data).toEqual({ accounts: [] });
  });
});

describe("mutations", () => {
  it("createAccount and login return the account; login's token works", async () => {
    const created = await gw.gql(
      `mutation { createAccount(account: { name: "  Cy  ", email: "CY@Example.com", password: "longenough" }) { id name email role createdAt } }`,
    );
    expect(created.errors).toBeUndefined();
    expect(created.data).toMatchObject({
      createAccount: { name: "Cy", email: "cy@example.com", role: "CUSTOMER" },
    });
    const login = await gw.gql<{
      login: { token: string; expiresAt: string; account: { email: string } };
    }>(
      `mutation { login(email: "cy@example.com", password: "longenough") { token expiresAt account { email } } }`,
    );
    expect(login.data?.login.account.email).toBe("cy@example.com");
    expect(Date.parse(login.data?.login.expiresAt as string)).toBeGreaterThan(Date.now());
    const me = await gw.gql(`{ me { email } }`, { token: login.data?.login.token });
    expect(me.data).toEqual({ me: { email: "cy@example.com" } });
  });

  it("updateAccount changes the name, and the password given the current one", async () => {
    const dee = await signUp("Dee", "dee@example.com", "first-password");
    const renamed = await gw.gql(
      `mutation ($id: ID!) { updateAccount(id: $id, patch: { name: "Dee Dee" }) { name } }`,
      { variables: { id: dee.id }, token: dee.token },
    );
    expect(renamed.data).toEqual({ updateAccount: { name: "Dee Dee" } });
    const wrong = await gw.gql(
      `mutation ($id: ID!) { updateAccount(id: $id, patch: { password: "second-password", currentPassword: "nope-nope" }) { id } }`,
      { variables: { id: dee.id }, token: dee.token },
    );
    expect(wrong.code).toBe("BAD_USER_INPUT");
    expect(wrong.errors?.[0]?.extensions?.fields).toEqual([
      { field: "patch.currentPassword", message: "is not the current password" },
    ]);
    const changed = await gw.gql(
      `mutation ($id: ID!) { updateAccount(id: $id, patch: { password: "second-password", currentPassword: "first-password" }) { id } }`,
      { variables: { id: dee.id }, token: dee.token },
    );
    expect(changed.errors).toBeUndefined();
    await logIn("dee@example.com", "second-password");
  });

  it("createProduct and updateProduct convert prices to cents exactly", async () => {
    const made = await gw.gql<{ createProduct: { id: string; price: number; stock: number } }>(
      `mutation { createProduct(product: { name: "Ink", description: "Black", price: 0.29 }) { id price stock } }`,
      { token: adminToken },
    );
    expect(made.data?.createProduct).toMatchObject({ price: 0.29, stock: 0 });
    const id = made.data?.createProduct.id;
    const updated = await gw.gql(
      `mutation ($id: ID!) { updateProduct(id: $id, patch: { price: 1000000, stock: 7, name: "Ink (black)" }) { name price stock description } }`,
      { variables: { id }, token: adminToken },
    );
    expect(updated.data).toEqual({
      updateProduct: { name: "Ink (black)", price: 1000000, stock: 7, description: "Black" },
    });
  });

  it("createOrder for the caller, with totals from catalog prices and an idempotency key", async () => {
    const [pen, notebook] = products;
    const placed = await gw.gql<{
      createOrder: {
        id: string;
        totalPrice: number;
        createdAt: string;
        account: { email: string };
        products: { id: string; name: string; price: number; quantity: number }[];
      };
    }>(
      `mutation ($o: OrderInput!) { createOrder(order: $o) { id totalPrice createdAt account { email } products { id name description price quantity product { name stock } } } }`,
      {
        variables: {
          o: {
            products: [
              { id: pen?.id, quantity: 1 },
              { id: notebook?.id, quantity: 3 },
            ],
            idempotencyKey: "ada-1",
          },
        },
        token: ada.token,
      },
    );
    expect(placed.errors).toBeUndefined();
    const placedOrder = placed.data?.createOrder;
    // 19.99 + 3 × 4.50 in cents: 1999 + 1350 = 3349.
    expect(placedOrder?.totalPrice).toBe(33.49);
    expect(placedOrder?.account.email).toBe("ada@example.com");
    expect(placedOrder?.products).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: pen?.id, name: "Fountain pen", price: 19.99, quantity: 1 }),
        expect.objectContaining({ id: notebook?.id, name: "Notebook", price: 4.5, quantity: 3 }),
      ]),
    );
    const again = await order(
      ada.token,
      [
        [pen?.id as string, 1],
        [notebook?.id as string, 3],
      ],
      {
        idempotencyKey: "ada-1",
      },
    );
    expect(again.data?.createOrder.id).toBe(placedOrder?.id);

    const history = await gw.gql<{ me: { orders: { id: string; totalPrice: number }[] } }>(
      `{ me { orders { id totalPrice } } }`,
      { token: ada.token },
    );
    expect(history.data?.me.orders).toEqual([{ id: placedOrder?.id, totalPrice: 33.49 }]);
  });

  it("an admin orders for another account; that customer sees it, another does not", async () => {
    const [pen] = products;
    const placed = await order(adminToken, [[pen?.id as string, 2]], { accountId: bob.id });
    expect(placed.errors).toBeUndefined();
    expect(placed.data?.createOrder.totalPrice).toBe(39.98);
    const bobs = await gw.gql<{ accounts: { orders: { id: string }[] }[] }>(
      `query ($id: ID) { accounts(id: $id) { orders { id account { id } } } }`,
      { variables: { id: bob.id }, token: bob.token },
    );
    expect(bobs.data?.accounts[0]?.orders.map((o) => o.id)).toContain(placed.data?.createOrder.id);
    const snooping = await gw.gql(`query ($id: ID) { accounts(id: $id) { orders { id } } }`, {
      variables: { id: bob.id },
      token: ada.token,
    });
    expect(snooping.code).toBe("FORBIDDEN");
    expect(JSON.stringify(snooping.data)).not.toContain(placed.data?.createOrder.id);
  });
});

describe("errors: every code of the table", () => {
  it("BAD_USER_INPUT lists each field under its GraphQL argument name", async () => {
    const res = await gw.gql(
      `mutation { createAccount(account: { name: "", email: "not-an-email", password: "short" }) { id } }`,
    );
    expect(res.code).toBe("BAD_USER_INPUT");
    expect(res.errors?.[0]?.extensions?.fields?.map((f) => f.field).sort()).toEqual([
      "account.email",
      "account.name",
      "account.password",
    ]);
    const badOrder = await order(ada.token, [[products[0]?.id as string, 0]]);
    expect(badOrder.code).toBe("BAD_USER_INPUT");
    expect(badOrder.errors?.[0]?.extensions?.fields?.[0]?.field).toBe("order.products[0].quantity");
  });

  it("BAD_USER_INPUT for prices with more than 2 decimals or out of range, before any RPC", async () => {
    for (const [price, message] of [
      [1.999, "must have at most 2 decimals"],
      [0, "must be 0.01 to 1000000.00"],
      [-5, "must be 0.01 to 1000000.00"],
      [1000000.01, "must be 0.01 to 1000000.00"],
    ] as const) {
      gw.rpcs.length = 0;
      const res = await gw.gql(
        `mutation ($price: Float!) { createProduct(product: { name: "X", description: "", price: $price }) { id } }`,
        { variables: { price }, token: adminToken },
      );
      expect(res.code).toBe("BAD_USER_INPUT");
      expect(res.errors?.[0]?.extensions?.fields).toEqual([{ field: "product.price", message }]);
      expect(gw.rpcs).toEqual([]);
    }
    const patch = await gw.gql(
      `mutation ($id: ID!) { updateProduct(id: $id, patch: { price: 2.345 }) { id } }`,
      { variables: { id: products[0]?.id }, token: adminToken },
    );
    expect(patch.errors?.[0]?.extensions?.fields?.[0]?.field).toBe("patch.price");
  });

  it("UNAUTHENTICATED for a wrong login, a missing token and a bad token", async () => {
    const wrong = await gw.gql(
      `mutation { login(email: "bob@example.com", password: "wrong-one") { token } }`,
    );
    expect(wrong.code).toBe("UNAUTHENTICATED");
    expect(wrong.errors?.[0]?.message).toBe("wrong email or password");
    expect((await gw.gql(`{ accounts { id } }`)).code).toBe("UNAUTHENTICATED");
    const forged = `${adminToken.slice(0, -4)}AAAA`;
    expect((await gw.gql(`{ me { id } }`, { token: forged })).code).toBe("UNAUTHENTICATED");
    expect((await gw.gql(`{ me { id } }`, { token: "garbage" })).code).toBe("UNAUTHENTICATED");
  });

  it("FORBIDDEN when a customer does an admin's work", async () => {
    expect((await gw.gql(`{ accounts { id } }`, { token: ada.token })).code).toBe("FORBIDDEN");
    const res = await gw.gql(
      `mutation { createProduct(product: { name: "Mine", description: "", price: 1 }) { id } }`,
      { token: ada.token },
    );
    expect(res.code).toBe("FORBIDDEN");
  });

  it("NOT_FOUND for a thing that does not exist", async () => {
    const res = await gw.gql(
      `mutation { updateProduct(id: "01890000-0000-7000-8000-000000000000", patch: { stock: 1 }) { id } }`,
      { token: adminToken },
    );
    expect(res.code).toBe("NOT_FOUND");
    expect(res.errors?.[0]?.path).toEqual(["updateProduct"]);
  });

  it("ALREADY_EXISTS when the email is taken", async () => {
    const res = await gw.gql(
      `mutation { createAccount(account: { name: "Ada again", email: "ADA@example.com", password: "whatever1" }) { id } }`,
    );
    expect(res.code).toBe("ALREADY_EXISTS");
  });

  it("OUT_OF_STOCK names the product", async () => {
    const eraser = products[2];
    const res = await order(bob.token, [
      [products[1]?.id as string, 1],
      [eraser?.id as string, 3],
    ]);
    expect(res.code).toBe("OUT_OF_STOCK");
    expect(res.errors?.[0]?.extensions?.productId).toBe(eraser?.id);
  });

  it("RATE_LIMITED after too many failed logins", async () => {
    await signUp("Eve", "eve@example.com");
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < 5; i++) {
      codes.push(
        (
          await gw.gql(
            `mutation { login(email: "eve@example.com", password: "bad-guess-${i}") { token } }`,
          )
        ).code,
      );
    }
    expect(codes.slice(0, 3)).toEqual(["UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED"]);
    expect(codes.at(-1)).toBe("RATE_LIMITED");
  });

  it("UNAVAILABLE when a service is down, without naming hosts", async () => {
    const down = testGateway({ ...stack.urls, catalog: await deadUrl() });
    try {
      const res = await down.gql(`{ products { id } }`);
      expect(res.code).toBe("UNAVAILABLE");
      expect(res.errors?.[0]?.message).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
      const ready = await down.gateway.fetch("http://gateway.test/readyz");
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({
        status: "not ready",
        services: { account: "ready", catalog: "unreachable", order: "ready" },
      });
    } finally {
      down.close();
    }
  });

  it("UNAVAILABLE when a service misses the backend deadline", async () => {
    // A service that accepts the connection and never answers.
    const sockets = new Set<import("node:net").Socket>();
    const hang = http.createServer(() => {});
    hang.on("connection", (s) => sockets.add(s));
    await new Promise<void>((resolve) => hang.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(hang.address() as AddressInfo).port}`;
    const slow = testGateway({ ...stack.urls, catalog: url }, { BACKEND_TIMEOUT_MS: "200" });
    try {
      const started = Date.now();
      const res = await slow.gql(`{ products { id } }`);
      expect(res.code).toBe("UNAVAILABLE");
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      slow.close();
      for (const s of sockets) s.destroy();
      hang.close();
    }
  });

  it("INTERNAL_SERVER_ERROR for anything else, with no internal detail", async () => {
    // A broken backend answering with an internal error page.
    const broken = http.createServer((_req, res) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end('ERROR: relation "accounts" does not exist at SELECT * FROM accounts');
    });
    await new Promise<void>((resolve) => broken.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
    const bad = testGateway({ ...stack.urls, account: url });
    try {
      const res = await bad.gql(`{ me { id } }`, { token: ada.token });
      expect(res.code).toBe("INTERNAL_SERVER_ERROR");
      expect(res.errors?.[0]?.message).toBe("Unexpected error.");
      expect(JSON.stringify(res.errors)).not.toMatch(/relation|SELECT|stack|127\.0\.0\.1/);
    } finally {
      bad.close();
      broken.close();
    }
  });
});

describe("DataLoader batching", () => {
  it("accounts → orders → products → product costs at most 3 RPCs, one per level", async () => {
    // More accounts with several orders each, so batching has something to batch.
    const [pen, notebook, eraser] = products;
    for (let i = 0; i < 4; i++) {
      const customer = await signUp(`Batch ${i}`, `batch${i}@example.com`);
      await order(customer.token, [[pen?.id as string, 1]]);
      await order(customer.token, [
        [notebook?.id as string, 1],
        [pen?.id as string, 2],
      ]);
    }
    await gw.gql(`mutation ($id: ID!) { updateProduct(id: $id, patch: { stock: 100 }) { id } }`, {
      variables: { id: eraser?.id },
      token: adminToken,
    });
    gw.rpcs.length = 0;
    const res = await gw.gql<{
      accounts: { orders: { products: { product: { name: string } | null }[] }[] }[];
    }>(`{ accounts(pagination: { take: 50 }) { orders { products { product { name } } } } }`, {
      token: adminToken,
    });
    expect(res.errors).toBeUndefined();
    const orders = res.data?.accounts.flatMap((a) => a.orders) ?? [];
    expect(orders.length).toBeGreaterThanOrEqual(10);
    expect(orders.flatMap((o) => o.products).every((p) => p.product?.name)).toBe(true);
    expect(gw.rpcs.map((r) => r.method)).toEqual([
      "bazaar.account.v1.AccountService/ListAccounts",
      "bazaar.order.v1.OrderService/BatchListOrdersForAccounts",
      "bazaar.catalog.v1.CatalogService/BatchGetProducts",
    ]);
  });

  it("an order's account comes from the accounts already loaded", async () => {
    gw.rpcs.length = 0;
    const res = await gw.gql(`{ accounts { name orders { account { name } } } }`, {
      token: adminToken,
    });
    expect(res.errors).toBeUndefined();
    expect(gw.rpcs).toHaveLength(2);
  });

  it("accounts(id:) and products(id:) go through the loaders: aliases share one RPC", async () => {
    gw.rpcs.length = 0;
    const [pen, notebook] = products;
    const res = await gw.gql(
      `query ($a: ID, $b: ID) { a: products(id: $a) { name } b: products(id: $b) { name } }`,
      { variables: { a: pen?.id, b: notebook?.id } },
    );
    expect(res.data).toEqual({ a: [{ name: "Fountain pen" }], b: [{ name: "Notebook" }] });
    expect(gw.rpcs.map((r) => r.method)).toEqual([
      "bazaar.catalog.v1.CatalogService/BatchGetProducts",
    ]);
  });
});

describe("limits", () => {
  it("refuses a query deeper than 10 with a 400 saying so", async () => {
    const deep = `{ me { orders { account { orders { account { orders { account { orders { account { orders { id } } } } } } } } } } }`;
    const res = await gw.gql(deep, { token: adminToken });
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.message).toMatch(/too deep: .* 11 levels .* limit is 10/);
    const ok = `{ me { orders { account { orders { account { orders { account { orders { id } } } } } } } } }`;
    expect((await gw.gql(ok, { token: adminToken })).errors).toBeUndefined();
  });

  it("refuses a query over the cost limit before calling anything", async () => {
    const heavy = `{ ${Array.from(
      { length: 5 },
      (_, i) =>
        `a${i}: accounts(pagination: { take: 100 }) { orders { products { product { name description } } } }`,
    ).join(" ")} }`;
    gw.rpcs.length = 0;
    const res = await gw.gql(heavy, { token: adminToken });
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.message).toMatch(
      /too expensive: its estimated cost is \d+, the limit is 50000/,
    );
    expect(gw.rpcs).toEqual([]);
  });

  it("answers 413 to a body over 1 MiB, and keeps serving", async () => {
    const body = JSON.stringify({
      query: `{ products { id } }`,
      variables: { pad: "x".repeat(1024 * 1024) },
    });
    const res = await gw.gateway.fetch("http://gateway.test/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    expect(res.status).toBe(413);
    expect((await gw.gql(`{ products { id } }`)).status).toBe(200);
  });

  it("refuses take above 100, as a literal or a variable", async () => {
    const res = await gw.gql(`{ products(pagination: { take: 101 }) { id } }`);
    expect(res.code).toBe("BAD_USER_INPUT");
    expect(res.errors?.[0]?.extensions?.fields).toEqual([
      { field: "pagination.take", message: "must be 1 to 100" },
    ]);
    const viaVariable = await gw.gql(
      `query ($p: PaginationInput) { accounts(pagination: $p) { id } }`,
      { variables: { p: { take: 1000, skip: -1 } }, token: adminToken },
    );
    expect(viaVariable.errors?.[0]?.extensions?.fields?.map((f) => f.field)).toEqual([
      "pagination.skip",
      "pagination.take",
    ]);
  });

  it("answers malformed requests with a 4xx that says what is wrong", async () => {
    const post = (body: string) =>
      gw.gateway.fetch("http://gateway.test/graphql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
    const badJson = await post("{ not json");
    expect(badJson.status).toBe(400);
    // Plain clients (curl, fetch) accept application/json, where Yoga alone would say 200.
    for (const query of ["{ products { id nope } }", "{ products { id }", "{ __typename(x: 1) }"]) {
      const plain = await gw.gateway.fetch("http://gateway.test/graphql", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ query }),
      });
      expect(plain.status, query).toBe(400);
      expect(((await plain.json()) as { errors: unknown[] }).errors.length, query).toBeGreaterThan(
        0,
      );
    }
    const unknownField = await gw.gql(`{ products { id price_cents } }`);
    expect(unknownField.status).toBe(400);
    expect(unknownField.errors?.[0]?.message).toContain('Cannot query field "price_cents"');
    const wrongType = await gw.gql(
      `query ($t: Int) { products(pagination: { take: $t }) { id } }`,
      {
        variables: { t: "many" },
      },
    );
    expect(wrongType.status).toBe(400);
    expect(wrongType.code).toBe("BAD_USER_INPUT");
    expect(wrongType.errors?.[0]?.message).toMatch(/Int cannot represent/);
    expect(wrongType.errors?.[0]?.extensions).not.toHaveProperty("http");
    const syntax = await gw.gql(`{ products { id }`);
    expect(syntax.status).toBe(400);
    expect(syntax.errors?.[0]?.message).toMatch(/Syntax Error/);
    const viaGet = await gw.gateway.fetch(
      `http://gateway.test/graphql?query=${encodeURIComponent('mutation { login(email: "a", password: "b") { token } }')}`,
      { headers: { accept: "application/json" } },
    );
    expect(viaGet.status).toBe(405);
  });

  it("turns introspection off when configured", async () => {
    const closed = testGateway(stack.urls, { GRAPHQL_INTROSPECTION: "false" });
    try {
      const res = await closed.gql(`{ __schema { types { name } } }`);
      expect(res.status).toBe(400);
      expect(res.errors?.[0]?.message).toMatch(/introspection/i);
      expect((await gw.gql(`{ __schema { queryType { name } } }`)).errors).toBeUndefined();
    } finally {
      closed.close();
    }
  });
});

describe("HTTP surface", () => {
  const get = (path: string, headers: Record<string, string> = {}) =>
    gw.gateway.fetch(`http://gateway.test${path}`, { headers });

  it("redirects / to /graphql", async () => {
    const res = await get("/");
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/graphql");
  });

  it("answers /healthz, and /readyz once all three services are ready", async () => {
    expect(await (await get("/healthz")).json()).toEqual({ status: "alive" });
    const ready = await get("/readyz");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: "ready",
      services: { account: "ready", catalog: "ready", order: "ready" },
    });
  });

  it("serves GraphiQL with everything inline, compressed and cacheable", async () => {
    const res = await get("/graphql", { accept: "text/html", "accept-encoding": "br, gzip" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.headers.get("content-encoding")).toBe("br");
    const plain = await get("/graphql", { accept: "text/html" });
    const html = await plain.text();
    expect(html).toContain("YogaGraphiQL.renderYogaGraphiQL");
    expect(html).toContain("query Products");
    // No script, stylesheet or worker is loaded from elsewhere.
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet[^>]+href="?https?:|unpkg\.com/);
    expect(Number(res.headers.get("content-length"))).toBeLessThan(html.length / 3);
    const etag = plain.headers.get("etag") as string;
    const again = await get("/graphql", { accept: "text/html", "if-none-match": etag });
    expect(again.status).toBe(304);
  });

  it("passes the request id and the caller's Authorization to the services, and echoes the id", async () => {
    gw.rpcs.length = 0;
    const res = await gw.gql(`{ me { id orders { id } } }`, {
      token: ada.token,
      headers: { "x-request-id": "test-request-42" },
    });
    expect(res.headers.get("x-request-id")).toBe("test-request-42");
    expect(gw.rpcs.length).toBe(2);
    for (const rpc of gw.rpcs) {
      expect(rpc.headers.get("x-request-id")).toBe("test-request-42");
      expect(rpc.headers.get("authorization")).toBe(`Bearer ${ada.token}`);
    }
    const generated = await gw.gql(`{ products { id } }`, {
      headers: { "x-request-id": "bad id!" },
    });
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("exports Prometheus metrics: requests, errors by code, latency", async () => {
    await gw.gql(`{ accounts { id } }`); // UNAUTHENTICATED
    const text = await (await get("/metrics")).text();
    expect(text).toMatch(
      /gateway_http_requests_total\{route="\/graphql",method="POST",status="200",app="gateway"\} \d+/,
    );
    expect(text).toMatch(/graphql_errors_total\{code="UNAUTHENTICATED",app="gateway"\} \d+/);
    expect(text).toMatch(/graphql_errors_total\{code="BAD_USER_INPUT",app="gateway"\} \d+/);
    expect(text).toContain("gateway_http_request_duration_seconds_bucket");
    expect(text).toMatch(/graphql_operations_total\{type="mutation",app="gateway"\} \d+/);
  });
});

describe("the process", () => {
  it("serves over HTTP, counts backend RPCs in /metrics, and stops gracefully", async () => {
    const running = await startGateway(
      loadGatewayConfig({
        PORT: "0",
        HOST: "127.0.0.1",
        LOG_LEVEL: "silent",
        ACCOUNT_URL: stack.urls.account,
        CATALOG_URL: stack.urls.catalog,
        ORDER_URL: stack.urls.order,
      }),
      { logger: silent },
    );
    try {
      const res = await fetch(`${running.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: `{ products(query: "notebook") { name price } }` }),
      });
      expect(await res.json()).toEqual({ data: { products: [{ name: "Notebook", price: 4.5 }] } });
      const metrics = await (await fetch(`${running.url}/metrics`)).text();
      expect(metrics).toMatch(
        /gateway_backend_rpc_total\{service="bazaar.catalog.v1.CatalogService",method="ListProducts",code="OK",app="gateway"\} 1/,
      );
      const redirect = await fetch(running.url, { redirect: "manual" });
      expect(redirect.status).toBe(302);
    } finally {
      await running.stop();
    }
    await expect(fetch(`${running.url}/healthz`)).rejects.toThrow();
  });
});

describe("money", () => {
  it("converts prices to cents exactly", () => {
    expect(priceToCents(19.99, "p")).toBe(1999n);
    expect(priceToCents(0.29, "p")).toBe(29n);
    expect(priceToCents(1.1, "p")).toBe(110n);
    expect(priceToCents(1000000, "p")).toBe(100000000n);
    expect(() => priceToCents(0.1 + 0.2, "p")).toThrow(/at most 2 decimals/);
    expect(() => priceToCents(Number.NaN, "p")).toThrow(/0.01 to 1000000.00/);
  });
});
