// The replica suite (issue 20): two replicas of each service on one database each, a
// round-robin balancer in front of each pair, one gateway. Each scenario prints one line.
// Run: npm run test:replicas (TEST_DATABASE_URL as for npm test).
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AccountService } from "../gen/bazaar/account/v1/account_pb.js";
import { OrderService } from "../gen/bazaar/order/v1/order_pb.js";
import { uuidv7 } from "../platform/data/ids.js";
import { bearer, waitUntil } from "../platform/testing.js";
import { adminAuth, product } from "../services/order/testing.js";
import { type ReplicaStack, startReplicaStack } from "./replica-stack.js";

const stockEach = 300;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Outcome {
  key: string;
  buyer: number;
  productId: string;
  quantity: number;
  orderId?: string;
  code?: string;
  message?: string | undefined;
}

/** A GraphQL call through the gateway: its data, or the first error's code. */
async function graphql<T>(
  gateway: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
): Promise<{ data?: T; code?: string; message?: string }> {
  const res = await fetch(`${gateway}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const answer = (await res.json()) as {
    data?: T;
    errors?: { message?: string; extensions?: { code?: string } }[];
  };
  const [error] = answer.errors ?? [];
  if (error)
    return { code: error.extensions?.code ?? `HTTP ${res.status}`, message: error.message };
  return { data: answer.data as T };
}

const createOrder = `mutation ($o: OrderInput!) { createOrder(order: $o) { id } }`;

/** How many answers of each kind, for a scenario's line. */
function tally(codes: (string | undefined)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const code of codes) counts[code ?? "OK"] = (counts[code ?? "OK"] ?? 0) + 1;
  return counts;
}

/**
 * Once nothing is pending: for every product initial − current stock = Σ CONFIRMED quantities,
 * every acknowledged order CONFIRMED, no idempotency key confirmed twice. Returns the line.
 */
async function reconcile(stack: ReplicaStack, ids: string[], acknowledged: string[]) {
  const { db } = stack;
  let open = { orders: -1, reservations: -1 };
  await waitUntil(
    "nothing pending",
    async () => {
      const [orders] = await db.order`
        select count(*)::int as n from orders where status = 'pending' or not settled`;
      const [reservations] = await db.catalog`
        select count(*)::int as n from reservations where state = 'pending'`;
      open = { orders: orders?.n as number, reservations: reservations?.n as number };
      return open.orders === 0 && open.reservations === 0;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  const sold = await db.order`
    select i.product_id, sum(i.quantity)::int as units from order_items i
    join orders o on o.id = i.order_id
    where o.status = 'confirmed' and i.product_id = any(${ids}::uuid[]) group by i.product_id`;
  const stock = await db.catalog`
    select product_id as id, stock from product_stock where product_id = any(${ids}::uuid[])`;
  const soldOf = new Map(sold.map((r) => [r.product_id as string, r.units as number]));
  for (const row of stock) {
    expect(stockEach - (row.stock as number), `product ${row.id}`).toBe(
      soldOf.get(row.id as string) ?? 0,
    );
  }
  const confirmed = await db.order`
    select id from orders where id = any(${acknowledged}::uuid[]) and status = 'confirmed'`;
  expect(confirmed.length).toBe(acknowledged.length);
  const twice = await db.order`
    select account_id, idempotency_key from orders where status = 'confirmed'
    and idempotency_key is not null group by 1, 2 having count(*) > 1`;
  expect(twice).toEqual([]);
  const units = [...soldOf.values()].reduce((a, b) => a + b, 0);
  return `reconcile EXACT — ${units} units sold = Σ CONFIRMED, ${acknowledged.length} acknowledged all CONFIRMED, 0 pending`;
}

describe("replicas", () => {
  let stack: ReplicaStack;
  let buyers: { id: string; token: string }[];

  beforeAll(async () => {
    stack = await startReplicaStack({
      env: {
        // Believe the test's X-Forwarded-For, so each scenario is its own client.
        account: {
          LOGIN_MAX_FAILURES: "5",
          SIGNUP_MAX_PER_CLIENT: "10",
          TRUSTED_PROXIES: "127.0.0.1",
        },
      },
    });
    buyers = [];
    for (let i = 0; i < 10; i++) {
      const { account } = await stack.accounts.createAccount(
        {
          name: `Buyer ${i}`,
          email: `buyer-${i}-${Date.now()}@example.com`,
          password: "correct horse battery",
        },
        { headers: { "x-forwarded-for": `198.51.100.${i + 1}` } },
      );
      const id = account?.id ?? "";
      buyers.push({
        id,
        token: (await stack.authority.issueUserToken(id, "customer", 3600)).token,
      });
    }
  }, 180_000);
  afterAll(() => stack?.close(), 60_000);
  beforeEach(() => stack.ensureUp(), 60_000);

  async function products(n = 3): Promise<string[]> {
    const admin = await adminAuth(stack.authority);
    return Promise.all(
      Array.from({ length: n }, () => product(stack.catalog, admin, 250, stockEach)),
    );
  }

  const connectOrder = (o: Outcome): Promise<Outcome> =>
    stack.orders
      .createOrder(
        { items: [{ productId: o.productId, quantity: o.quantity }], idempotencyKey: o.key },
        { ...bearer(buyers[o.buyer]?.token ?? ""), timeoutMs: 15_000 },
      )
      .then(
        ({ order }) => ({ ...o, orderId: order?.id, code: undefined }),
        (error: unknown) => ({ ...o, code: Code[ConnectError.from(error).code] }),
      );

  const plan = (ids: string[], tag: string, n = 200): Outcome[] =>
    Array.from({ length: n }, (_, i) => ({
      key: `${tag}-${i}`,
      buyer: i % 10,
      productId: ids[i % ids.length] ?? "",
      quantity: 1 + (i % 3),
    }));

  it("a steady burst through the gateway: zero unexpected errors, spread over both replicas", async () => {
    const ids = await products();
    // 20 clients, each placing its orders one after another: 200 orders in all.
    const planned = plan(ids, "steady");
    const outcomes: Outcome[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async (_, client) => {
        for (let i = client; i < planned.length; i += 20) {
          const o = planned[i] as Outcome;
          const answer = await graphql<{ createOrder: { id: string } }>(
            stack.gateway.url,
            createOrder,
            { o: { products: [{ id: o.productId, quantity: o.quantity }], idempotencyKey: o.key } },
            buyers[o.buyer]?.token,
          );
          outcomes.push({
            ...o,
            orderId: answer.data?.createOrder.id,
            code: answer.code,
            message: answer.message,
          });
        }
      }),
    );
    const unexpected = outcomes.filter((o) => o.code !== undefined && o.code !== "OUT_OF_STOCK");
    expect(unexpected).toEqual([]);
    for (const service of ["account", "catalog", "order"] as const) {
      const handed = stack.replicas[service].map(
        (r) => stack.balancers[service].handed.get(r.port) ?? 0,
      );
      expect(
        handed.every((n) => n > 0),
        `${service} connections ${handed}`,
      ).toBe(true);
    }
    const books = await reconcile(
      stack,
      ids,
      outcomes.flatMap((o) => (o.orderId ? [o.orderId] : [])),
    );
    console.log(
      `steady burst: 200 orders from 20 clients through the gateway, answers ${JSON.stringify(tally(outcomes.map((o) => o.code)))}, unexpected 0; ${books}`,
    );
  }, 120_000);

  it("one replica of each service killed -9 mid-burst, clients retry with their keys", async () => {
    const ids = await products();
    const placed = plan(ids, "kill").map(connectOrder);
    await waitUntil(
      "40 reservations",
      async () => {
        const [row] = await stack.db.catalog`
          select count(distinct order_id)::int as n from reservation_items
          where product_id = any(${ids}::uuid[])`;
        return (row?.n ?? 0) >= 40;
      },
      { timeoutMs: 20_000, intervalMs: 2 },
    );
    await Promise.all(
      (["account", "catalog", "order"] as const).map((s) =>
        stack.stop(stack.replicas[s][0] as never),
      ),
    );
    const first = await Promise.all(placed);
    // The survivors serve the retries; the dead order replica's sagas are failed by the
    // surviving one's recovery, after which a retry places the order anew.
    let current = first;
    for (let round = 0; round < 40; round++) {
      const again = current.filter((o) => o.code === "Unavailable" || o.code === "Aborted");
      if (again.length === 0) break;
      await sleep(500);
      const redone = new Map((await Promise.all(again.map(connectOrder))).map((o) => [o.key, o]));
      current = current.map((o) => redone.get(o.key) ?? o);
    }
    expect(current.filter((o) => o.code !== undefined && o.code !== "FailedPrecondition")).toEqual(
      [],
    );
    const books = await reconcile(
      stack,
      ids,
      current.flatMap((o) => (o.orderId ? [o.orderId] : [])),
    );
    console.log(
      `kill -9 of one replica of each service mid-burst: first answers ${JSON.stringify(tally(first.map((o) => o.code)))}, after retries with the same keys ${JSON.stringify(tally(current.map((o) => o.code)))}; ${books}`,
    );
  }, 180_000);

  it("the same idempotency key sent to both order replicas at once makes one order", async () => {
    const [id] = await products(1);
    const [a, b] = stack.replicas.order.map((r) => stack.direct(OrderService, r));
    const keys = Array.from({ length: 20 }, (_, i) => `both-${i}`);
    const answers = await Promise.all(
      keys.flatMap((key, i) =>
        [a, b].map((client) =>
          client
            ?.createOrder(
              { items: [{ productId: id ?? "", quantity: 1 }], idempotencyKey: key },
              { ...bearer(buyers[i % 10]?.token ?? ""), timeoutMs: 15_000 },
            )
            .then(
              ({ order }) => ({ key, id: order?.id, code: undefined as string | undefined }),
              (error: unknown) => ({
                key,
                id: undefined,
                code: Code[ConnectError.from(error).code],
              }),
            ),
        ),
      ),
    );
    const rows = await stack.db.order`
      select idempotency_key, count(*)::int as n from orders
      where idempotency_key = any(${keys}) group by 1`;
    expect(rows.map((r) => r.n)).toEqual(Array(20).fill(1));
    for (const key of keys) {
      const ids = new Set(answers.filter((x) => x?.key === key && x.id).map((x) => x?.id));
      expect(ids.size, key).toBe(1);
    }
    const books = await reconcile(
      stack,
      [id ?? ""],
      [...new Set(answers.flatMap((x) => (x?.id ? [x.id] : [])))],
    );
    console.log(
      `same key to both order replicas at once: 20 keys × 2 replicas, answers ${JSON.stringify(tally(answers.map((x) => x?.code)))}, ${rows.length} orders (one per key); ${books}`,
    );
  }, 120_000);

  it("both catalog sweepers past the TTL: every abandoned reservation released once", async () => {
    const [id] = await products(1);
    const service = bearer(await stack.authority.issueServiceToken("order"));
    // Reservations whose order the order service never wrote: each sweeper must release them.
    const orderIds = Array.from({ length: 40 }, () => uuidv7());
    await Promise.all(
      orderIds.map((orderId) =>
        stack.catalog.reserveStock(
          { orderId, items: [{ productId: id ?? "", quantity: 2 }] },
          service,
        ),
      ),
    );
    const [held] = await stack.db
      .catalog`select stock from product_stock where product_id = ${id ?? ""}`;
    expect(held?.stock).toBe(stockEach - 80);
    await waitUntil(
      "every reservation settled",
      async () => {
        const [row] = await stack.db.catalog`
          select count(*)::int as n from reservations where state = 'pending' and order_id = any(${orderIds}::uuid[])`;
        return row?.n === 0;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const [after] = await stack.db
      .catalog`select stock from product_stock where product_id = ${id ?? ""}`;
    const states = await stack.db.catalog`
      select state, count(*)::int as n from reservations where order_id = any(${orderIds}::uuid[]) group by 1`;
    // Released twice, the stock would be above where it started.
    expect(after?.stock).toBe(stockEach);
    expect(states.map((r) => [r.state, r.n])).toEqual([["released", 40]]);
    console.log(
      `both sweepers past the TTL: 40 reservations (80 units) released once each, stock ${held?.stock} → ${after?.stock} (started ${stockEach}), no double release`,
    );
  }, 120_000);

  it("the login throttle and the sign-up limit hold across replicas", async () => {
    const [one, two] = stack.replicas.account.map((r) => stack.direct(AccountService, r));
    const email = `victim-${Date.now()}@example.com`;
    await stack.accounts.createAccount(
      { name: "Victim", email, password: "the right password" },
      { headers: { "x-forwarded-for": "198.51.100.200" } },
    );
    const attacker = { headers: { "x-forwarded-for": "203.0.113.50" } };
    const logins: string[] = [];
    for (let i = 0; i < 10; i++) {
      const replica = i % 2 === 0 ? one : two;
      logins.push(
        (await replica?.login({ email, password: `guess-${i}-wrong` }, attacker).then(
          () => "OK",
          (error: unknown) => Code[ConnectError.from(error).code],
        )) ?? "",
      );
    }
    expect(logins).toEqual([
      ...Array(5).fill("Unauthenticated"),
      ...Array(5).fill("ResourceExhausted"),
    ]);
    const spammer = { headers: { "x-forwarded-for": "203.0.113.60" } };
    const signups: string[] = [];
    for (let i = 0; i < 20; i++) {
      const replica = i % 2 === 0 ? one : two;
      signups.push(
        (await replica
          ?.createAccount(
            {
              name: `Spam ${i}`,
              email: `spam-${i}-${Date.now()}@example.com`,
              password: "spam spam spam",
            },
            spammer,
          )
          .then(
            () => "OK",
            (error: unknown) => Code[ConnectError.from(error).code],
          )) ?? "",
      );
    }
    expect(tally(signups)).toEqual({ OK: 10, ResourceExhausted: 10 });
    console.log(
      `limits across replicas: 10 wrong passwords alternating between 2 account replicas → ${JSON.stringify(tally(logins))}; 20 sign-ups from one client alternating → ${JSON.stringify(tally(signups))}`,
    );
  }, 60_000);
});

describe("replicas, fresh start", () => {
  let stack: ReplicaStack;
  afterAll(() => stack?.close(), 60_000);

  it("every replica started at once, then at once a burst: no UNAUTHENTICATED or UNAVAILABLE", async () => {
    // Development keys: each service makes and publishes its key as it starts, and the others
    // discover it on first use, in the middle of the burst.
    stack = await startReplicaStack({ keys: "development", allAtOnce: true });
    const gateway = stack.gateway.url;
    const codes: (string | undefined)[] = [];
    const admin = await graphql<{ login: { token: string } }>(
      gateway,
      `mutation { login(email: "admin@example.com", password: "bazaar-admin") { token } }`,
    );
    codes.push(admin.code);
    const adminToken = admin.data?.login.token;
    const made = await Promise.all(
      [0, 1, 2].map((i) =>
        graphql<{ createProduct: { id: string } }>(
          gateway,
          `mutation ($p: ProductInput!) { createProduct(product: $p) { id } }`,
          { p: { name: `Fresh ${i}`, description: "fresh start", price: 2.5, stock: stockEach } },
          adminToken,
        ),
      ),
    );
    codes.push(...made.map((m) => m.code));
    const ids = made.flatMap((m) => (m.data ? [m.data.createProduct.id] : []));
    const people = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const email = `fresh-${i}-${Date.now()}@example.com`;
        const signed = await graphql(
          gateway,
          `mutation ($a: AccountInput!) { createAccount(account: $a) { id } }`,
          { a: { name: `Fresh ${i}`, email, password: "correct horse battery" } },
        );
        const login = await graphql<{ login: { token: string } }>(
          gateway,
          `mutation ($e: String!) { login(email: $e, password: "correct horse battery") { token } }`,
          { e: email },
        );
        codes.push(signed.code, login.code);
        return login.data?.login.token ?? "";
      }),
    );
    const orders = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        graphql<{ createOrder: { id: string } }>(
          gateway,
          createOrder,
          {
            o: {
              products: [{ id: ids[i % ids.length], quantity: 1 }],
              idempotencyKey: `fresh-${i}`,
            },
          },
          people[i % people.length],
        ),
      ),
    );
    codes.push(...orders.map((o) => o.code));
    const refused = codes.filter((c) => c === "UNAUTHENTICATED" || c === "UNAVAILABLE");
    expect(refused).toEqual([]);
    expect(codes.filter((c) => c !== undefined && c !== "OUT_OF_STOCK")).toEqual([]);
    const books = await reconcile(
      stack,
      ids,
      orders.flatMap((o) => (o.data ? [o.data.createOrder.id] : [])),
    );
    console.log(
      `fresh start of all 6 replicas at once, then a burst (admin login, 3 products, 10 sign-ups + logins, 100 orders): answers ${JSON.stringify(tally(codes))}, UNAUTHENTICATED/UNAVAILABLE 0; ${books}`,
    );
  }, 180_000);
});
