// Mutations through the gateway against the real services, and every error code of the
// spec's table with its extensions.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Customer,
  deadUrl,
  type GatewayTestbed,
  openGatewayTestbed,
  type ShopProduct,
  type Stack,
  seedShop,
  type TestGateway,
  testGateway,
} from "./testing.js";

let t: GatewayTestbed;
let gw: TestGateway;
let stack: Stack;
let adminToken: string;
let ada: Customer;
let bob: Customer;
let products: ShopProduct[];
const signUp = (name: string, email: string, password?: string) => t.signUp(name, email, password);
const logIn = (email: string, password: string) => t.logIn(email, password);
const order = (token: string, items: [string, number][], extra?: Record<string, unknown>) =>
  t.order(token, items, extra);

beforeAll(async () => {
  t = await openGatewayTestbed({ LOGIN_MAX_FAILURES: "3" });
  ({ gw, stack, adminToken } = t);
  ({ ada, bob, products } = await seedShop(t));
});

afterAll(async () => {
  await t?.close();
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
      // The gateway itself can still serve (what needs no catalog): ready, naming the one down.
      const ready = await down.gateway.fetch("http://gateway.test/readyz");
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({
        status: "ready",
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
