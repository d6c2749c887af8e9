// The order's life after checkout through the gateway (yoga.fetch against the real services):
// status, updatedAt and cancelReason on every order, orders(status, pagination, id),
// cancelOrder and shipOrder, FAILED_PRECONDITION with extensions.reason, and the list still
// resolved in one backend RPC per level.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
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
let bob: Customer;
let products: ShopProduct[];

beforeAll(async () => {
  t = await openGatewayTestbed();
  ({ gw, adminToken } = t);
  ({ ada, bob, products } = await seedShop(t));
});

afterAll(async () => {
  await t?.close();
});

interface OrderView {
  id: string;
  status: string;
  createdAt: string;
  updatedAt: string;
  cancelReason: string | null;
}

const fields = "id status createdAt updatedAt cancelReason";

async function placeOrder(who: Customer, quantity = 1): Promise<OrderView> {
  const res = await gw.gql<{ createOrder: OrderView }>(
    `mutation ($o: OrderInput!) { createOrder(order: $o) { ${fields} } }`,
    { variables: { o: { products: [{ id: products[1]?.id, quantity }] } }, token: who.token },
  );
  expect(res.errors).toBeUndefined();
  return res.data?.createOrder as OrderView;
}

const stock = async () => {
  const res = await gw.gql<{ products: { stock: number }[] }>(
    `query ($id: ID) { products(id: $id) { stock } }`,
    { variables: { id: products[1]?.id } },
  );
  return res.data?.products[0]?.stock;
};

const cancel = (id: string, token: string, reason?: string) =>
  gw.gql<{ cancelOrder: OrderView }>(
    `mutation ($id: ID!, $r: String) { cancelOrder(id: $id, reason: $r) { ${fields} } }`,
    { variables: { id, r: reason }, token },
  );

const ship = (id: string, token: string) =>
  gw.gql<{ shipOrder: OrderView }>(`mutation ($id: ID!) { shipOrder(id: $id) { ${fields} } }`, {
    variables: { id },
    token,
  });

describe("an order's life through GraphQL", () => {
  it("a customer cancels: CANCELLED with the reason, stock back, the same answer again", async () => {
    const before = await stock();
    const placed = await placeOrder(ada, 3);
    expect(placed).toMatchObject({ status: "PLACED", cancelReason: null });
    expect(await stock()).toBe((before ?? 0) - 3);
    const first = await cancel(placed.id, ada.token, "wrong colour");
    expect(first.errors).toBeUndefined();
    expect(first.data?.cancelOrder).toMatchObject({
      id: placed.id,
      status: "CANCELLED",
      cancelReason: "wrong colour",
    });
    expect(Date.parse(first.data?.cancelOrder.updatedAt ?? "")).toBeGreaterThanOrEqual(
      Date.parse(placed.updatedAt),
    );
    expect(await stock()).toBe(before);
    const again = await cancel(placed.id, ada.token);
    expect(again.data?.cancelOrder).toEqual(first.data?.cancelOrder);
    expect(await stock()).toBe(before);
    const mine = await gw.gql<{ me: { orders: OrderView[] } }>(`{ me { orders { ${fields} } } }`, {
      token: ada.token,
    });
    expect(mine.data?.me.orders.find((o) => o.id === placed.id)).toEqual(first.data?.cancelOrder);
  });

  it("an admin ships; cancelling it then is FAILED_PRECONDITION with extensions.reason", async () => {
    const placed = await placeOrder(bob);
    const shipped = await ship(placed.id, adminToken);
    expect(shipped.errors).toBeUndefined();
    expect(shipped.data?.shipOrder).toMatchObject({ id: placed.id, status: "SHIPPED" });
    expect((await ship(placed.id, adminToken)).data?.shipOrder).toEqual(shipped.data?.shipOrder);
    const refused = await cancel(placed.id, bob.token, "too late");
    expect(refused.code).toBe("FAILED_PRECONDITION");
    expect(refused.errors?.[0]?.extensions?.reason).toMatch(/SHIPPED/);
    expect(refused.data).toBeNull();

    const cancelled = await placeOrder(bob);
    await cancel(cancelled.id, bob.token);
    const noShip = await ship(cancelled.id, adminToken);
    expect(noShip.code).toBe("FAILED_PRECONDITION");
    expect(noShip.errors?.[0]?.extensions?.reason).toMatch(/CANCELLED/);
  });

  it("a customer may not ship (FORBIDDEN) nor cancel someone else's order (NOT_FOUND)", async () => {
    const placed = await placeOrder(ada);
    expect((await ship(placed.id, ada.token)).code).toBe("FORBIDDEN");
    const foreign = await cancel(placed.id, bob.token);
    expect(foreign.code).toBe("NOT_FOUND");
    const unknown = await cancel("01890000-0000-7000-8000-000000000000", bob.token);
    expect(unknown.code).toBe("NOT_FOUND");
    expect((await cancel(placed.id, "")).code).toBe("UNAUTHENTICATED");
    const long = await cancel(placed.id, ada.token, "x".repeat(501));
    expect(long.code).toBe("BAD_USER_INPUT");
    expect(long.errors?.[0]?.extensions?.fields).toEqual([
      { field: "reason", message: expect.stringMatching(/500/) },
    ]);
    const still = await gw.gql<{ orders: OrderView[] }>(
      `query ($id: ID) { orders(id: $id) { ${fields} } }`,
      { variables: { id: placed.id }, token: ada.token },
    );
    expect(still.data?.orders).toEqual([placed]);
  });

  it("orders(id:) gives the caller's own or [] — never whether someone else's exists", async () => {
    const placed = await placeOrder(ada);
    const q = `query ($id: ID, $s: OrderStatus) { orders(id: $id, status: $s) { id status } }`;
    const asAda = await gw.gql(q, { variables: { id: placed.id }, token: ada.token });
    expect(asAda.data).toEqual({ orders: [{ id: placed.id, status: "PLACED" }] });
    for (const id of [placed.id, "01890000-0000-7000-8000-000000000000", "not-an-id"]) {
      const res = await gw.gql(q, { variables: { id }, token: bob.token });
      expect(res.errors).toBeUndefined();
      expect(res.data).toEqual({ orders: [] });
    }
    const asAdmin = await gw.gql(q, { variables: { id: placed.id }, token: adminToken });
    expect(asAdmin.data).toEqual({ orders: [{ id: placed.id, status: "PLACED" }] });
    const otherStatus = await gw.gql(q, {
      variables: { id: placed.id, s: "SHIPPED" },
      token: ada.token,
    });
    expect(otherStatus.data).toEqual({ orders: [] });
  });

  it("orders lists every order for an admin, by status, in one RPC per level; FORBIDDEN for others", async () => {
    const shipped = await placeOrder(bob);
    await ship(shipped.id, adminToken);
    gw.rpcs.length = 0;
    const res = await gw.gql<{
      orders: { id: string; status: string; account: { orders: { id: string }[] } }[];
    }>(
      `{ orders(status: SHIPPED, pagination: { take: 50 }) { id status account { name orders { id } } products { product { name } } } }`,
      { token: adminToken },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data?.orders.length).toBeGreaterThan(0);
    expect(res.data?.orders.every((o) => o.status === "SHIPPED")).toBe(true);
    expect(res.data?.orders.map((o) => o.id)).toContain(shipped.id);
    const methods = gw.rpcs.map((r) => r.method.split("/")[1]).sort();
    expect(methods).toEqual([
      "BatchGetAccounts",
      "BatchGetProducts",
      "BatchListOrdersForAccounts",
      "ListOrders",
    ]);

    const all = await gw.gql<{ orders: { id: string }[] }>(
      `{ orders(pagination: { take: 100 }) { id } }`,
      { token: adminToken },
    );
    const ids = all.data?.orders.map((o) => o.id) ?? [];
    expect(ids).toEqual([...ids].sort().reverse());
    expect((await gw.gql(`{ orders { id } }`, { token: ada.token })).code).toBe("FORBIDDEN");
    const big = await gw.gql(`{ orders(pagination: { take: 101 }) { id } }`, {
      token: adminToken,
    });
    expect(big.code).toBe("BAD_USER_INPUT");
  });
});
