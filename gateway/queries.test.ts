// Queries through the gateway against the real services: every query of the SDL, and the
// DataLoader bound (one backend RPC per level).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adminEmail,
  type Customer,
  type GatewayTestbed,
  openGatewayTestbed,
  type ShopProduct,
  seedShop,
  type TestGateway,
} from "./testing.js";

let t: GatewayTestbed;
let gw: TestGateway;
let adminToken: string;
let ada: Customer;
let products: ShopProduct[];
const signUp = (name: string, email: string, password?: string) => t.signUp(name, email, password);
const order = (token: string, items: [string, number][], extra?: Record<string, unknown>) =>
  t.order(token, items, extra);

beforeAll(async () => {
  t = await openGatewayTestbed();
  ({ gw, adminToken } = t);
  ({ ada, products } = await seedShop(t));
});

afterAll(async () => {
  await t?.close();
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

  it("me is null for a service's token, which names no account", async () => {
    const token = await t.stack.authority.issueServiceToken("order");
    const res = await gw.gql(`{ me { id } }`, { token });
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ me: null });
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

describe("DataLoader batching", () => {
  it("accounts → orders → products → product costs at most 3 RPCs, one per level", async () => {
    // Accounts with several orders each (10 in all, this file placing no others), so
    // batching has something to batch.
    const [pen, notebook, eraser] = products;
    for (let i = 0; i < 5; i++) {
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
