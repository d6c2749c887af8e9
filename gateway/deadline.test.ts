// The gateway passes the time left on each GraphQL request to the services: BACKEND_TIMEOUT_MS
// is the request's budget, and each backend call carries what remains of it as its deadline.
import { afterAll, beforeAll, expect, it } from "vitest";
import { type GatewayTestbed, openGatewayTestbed, type Shop, seedShop } from "./testing.js";

let t: GatewayTestbed;
let shop: Shop;

beforeAll(async () => {
  t = await openGatewayTestbed();
  shop = await seedShop(t);
}, 60_000);
afterAll(() => t?.close());

it("a call made later in the request gets less time: the request's, not a fresh budget", async () => {
  const [pen] = shop.products;
  t.gw.rpcs.length = 0;
  const res = await t.gw.gql(
    `mutation ($o: OrderInput!) { createOrder(order: $o) { id account { email } } }`,
    { variables: { o: { products: [{ id: pen?.id, quantity: 1 }] } }, token: shop.ada.token },
  );
  expect(res.errors).toBeUndefined();
  const timeoutOf = (method: string) => {
    const rpc = t.gw.rpcs.find((r) => r.method === method);
    expect(rpc, method).toBeDefined();
    return Number(rpc?.headers.get("connect-timeout-ms"));
  };
  const first = timeoutOf("bazaar.order.v1.OrderService/CreateOrder");
  const later = timeoutOf("bazaar.account.v1.AccountService/BatchGetAccounts");
  expect(first).toBeLessThanOrEqual(t.gw.config.BACKEND_TIMEOUT_MS);
  expect(first).toBeGreaterThan(0);
  // The account is loaded once createOrder answered, which took the saga's three services.
  expect(later).toBeLessThan(first);
});
