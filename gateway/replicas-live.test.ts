// Two catalog replicas on one database and two gateways, one over each: a change made through
// either replica reaches the subscribers of both gateways, in order, exactly once per cursor; a
// subscriber that moves to the other gateway resumes from its Last-Event-ID. The same for two
// order-service replicas and orderUpdated.
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../gen/bazaar/account/v1/account_pb.js";
import { CatalogService } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { OrderService } from "../gen/bazaar/order/v1/order_pb.js";
import { uuidv7 } from "../platform/data/ids.js";
import { createLogger } from "../platform/observability/logger.js";
import { bearer, testAuthority } from "../platform/testing.js";
import { type LiveCatalog, startLiveCatalog } from "../services/catalog/live-testing.js";
import { loadOrderConfig } from "../services/order/config.js";
import { type HostedOrderService, startOrderService } from "../services/order/main.js";
import { createTransports } from "./clients.js";
import { loadGatewayConfig } from "./config.js";
import { gatewayOver } from "./live/testing.js";
import { createGateway, type Gateway } from "./server.js";
import { type Stack, startStack } from "./testing.js";

const silent = createLogger({ service: "test", level: "silent", pretty: false });
const replicas: LiveCatalog[] = [];
const gateways: ReturnType<typeof gatewayOver>[] = [];

beforeAll(async () => {
  const { authority } = testAuthority();
  const first = await startLiveCatalog([100, 200], { authority });
  const second = await startLiveCatalog([], { authority, database: first.database });
  second.products.push(...first.products);
  replicas.push(first, second);
  for (const replica of replicas) gateways.push(gatewayOver(replica.url));
});

afterAll(async () => {
  for (const { close } of gateways) await close();
  // The second replica shares the first's database: close it first.
  for (const replica of [...replicas].reverse()) await replica.close();
});

/**
 * Reads stockChanged events from one gateway into `seen` (as [productId, stock]), and the last
 * SSE event id into `lastId`; `lastEventId` resumes.
 */
function subscribe(gateway: Gateway, ids: string[], lastEventId?: string) {
  const seen: [string, number][] = [];
  const state = { lastId: undefined as string | undefined };
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  void (async () => {
    const res = await gateway.fetch("http://gateway/graphql", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "text/event-stream",
        ...(lastEventId ? { "last-event-id": lastEventId } : {}),
      },
      body: JSON.stringify({
        query: "subscription ($ids: [ID!]!) { stockChanged(productIds: $ids) { productId stock } }",
        variables: { ids },
      }),
    });
    reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const complete = buffer.slice(0, buffer.lastIndexOf("\n\n") + 2);
      buffer = buffer.slice(complete.length);
      for (const block of complete.split("\n\n")) {
        const data = /^data: (.*)$/m.exec(block)?.[1];
        const update = data ? JSON.parse(data).data?.stockChanged : undefined;
        if (update) seen.push([update.productId, update.stock]);
        state.lastId = /^id: (.*)$/m.exec(block)?.[1] ?? state.lastId;
      }
    }
  })().catch(() => {});
  return {
    seen,
    lastId: () => state.lastId,
    stop: () => void reader?.cancel().catch(() => {}),
  };
}

async function until(check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("live updates across replicas", () => {
  it("delivers every change through either replica to both gateways' subscribers, in order, once", async () => {
    const [a, b] = (replicas[0] as LiveCatalog).products as [string, string];
    const subscribers = gateways.flatMap(({ gateway }) => [
      subscribe(gateway, [a, b]),
      subscribe(gateway, [a]),
    ]);
    await until(() => subscribers.every((s) => s.seen.length >= 1));
    await until(() => subscribers.every((s, i) => s.seen.length === (i % 2 === 0 ? 2 : 1)));
    // Alternate replicas; each change is a new stock (states: a repeated one is not news).
    // The pauses let each change be seen on its own: without them a subscriber may be sent
    // only the latest of several (coalesced), which is also correct, but not what we count.
    const expected = { [a]: [100], [b]: [200] } as Record<string, number[]>;
    for (let i = 1; i <= 10; i++) {
      const replica = replicas[i % 2] as LiveCatalog;
      const product = i % 3 === 0 ? b : a;
      const stock = (expected[product]?.at(-1) ?? 0) - 1;
      expected[product]?.push(stock);
      await replica.setStock(product, stock);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await until(() =>
      subscribers.every((s, i) =>
        i % 2 === 0
          ? s.seen.length === (expected[a]?.length ?? 0) + (expected[b]?.length ?? 0)
          : s.seen.length === expected[a]?.length,
      ),
    );
    for (const [i, s] of subscribers.entries()) {
      const ofA = s.seen.filter(([id]) => id === a).map(([, stock]) => stock);
      expect(ofA).toEqual(expected[a]);
      if (i % 2 === 0)
        expect(s.seen.filter(([id]) => id === b).map(([, n]) => n)).toEqual(expected[b]);
    }
    for (const s of subscribers) s.stop();
  }, 30_000);

  it("resumes a subscriber that moves to the other gateway from its Last-Event-ID", async () => {
    const [a, b] = (replicas[0] as LiveCatalog).products as [string, string];
    const [one, two] = gateways.map(({ gateway }) => gateway) as [Gateway, Gateway];
    // The other gateway already follows these products (it serves other subscribers).
    // The first test's subscribers are gone (a cancelled body is noticed at the next ping).
    await until(() => one.live.stock.subscribers === 0 && two.live.stock.subscribers === 0);
    const there = subscribe(two, [a, b]);
    const here = subscribe(one, [a, b]);
    await until(() => here.seen.length === 2 && there.seen.length === 2);
    // Once this gateway's feed covers the subscriber, each change carries an id to resume from.
    await until(() => one.live.stock.settled);
    await (replicas[0] as LiveCatalog).setStock(a, 500);
    await until(() => here.seen.at(-1)?.[1] === 500 && here.lastId() !== undefined);
    // This gateway goes away for the subscriber; b changes meanwhile.
    here.stop();
    await until(() => one.live.stock.subscribers === 0);
    await (replicas[1] as LiveCatalog).setStock(b, 600);
    await until(() => there.seen.at(-1)?.[1] === 600);
    const moved = subscribe(two, [a, b], here.lastId());
    await until(() => moved.seen.length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(moved.seen).toEqual([[b, 600]]);
    for (const s of [there, moved]) s.stop();
  }, 30_000);
});

// Two order-service replicas on one database, a gateway over each: a customer's orderUpdated
// on both gateways sees every change, whichever replica made it, in order, exactly once.
describe("orderUpdated across order replicas", () => {
  let stack: Stack;
  let second: HostedOrderService;
  const pair: { gateway: Gateway; close(): void }[] = [];

  beforeAll(async () => {
    stack = await startStack();
    second = await startOrderService(
      loadOrderConfig({
        PORT: "0",
        LOG_LEVEL: "silent",
        DATABASE_URL: stack.databaseUrls.order,
        ...stack.authority.env("order"),
        ACCOUNT_URL: stack.urls.account,
        CATALOG_URL: stack.urls.catalog,
        RECOVERY_INTERVAL_MS: "0",
      }),
    );
    for (const orderUrl of [stack.urls.order, second.server.url]) {
      const config = loadGatewayConfig({
        PORT: "0",
        LOG_LEVEL: "silent",
        ACCOUNT_URL: stack.urls.account,
        CATALOG_URL: stack.urls.catalog,
        ORDER_URL: orderUrl,
      });
      const made = createTransports(config);
      const gateway = createGateway({
        config,
        transports: made.transports,
        logger: silent,
        ready: async () => ({}) as never,
      });
      pair.push({ gateway, close: made.close });
    }
  }, 60_000);

  afterAll(async () => {
    for (const { gateway, close } of pair) {
      await gateway.close();
      close();
    }
    await second?.stop();
    await stack?.stop();
  });

  it("delivers a ship through one replica and a cancel through the other to both gateways", async () => {
    const { authority } = stack;
    const transport = (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: "1.1" });
    const admin = bearer((await authority.issueUserToken(uuidv7(), "admin", 600)).token);
    const { product } = await createClient(
      CatalogService,
      transport(stack.urls.catalog),
    ).createProduct(
      { name: "Replica kettle", description: "", priceCents: 1500n, stock: 10 },
      admin,
    );
    const { account } = await createClient(
      AccountService,
      transport(stack.urls.account),
    ).createAccount({
      name: "Replica shopper",
      email: `replica-${uuidv7()}@example.com`,
      password: "a-long-password",
    });
    const token = (await authority.issueUserToken(account?.id ?? "", "customer", 600)).token;
    const [one, two] = [stack.urls.order, second.server.url].map((url) =>
      createClient(OrderService, transport(url)),
    ) as [Client<typeof OrderService>, Client<typeof OrderService>];
    const place = async (client: Client<typeof OrderService>) =>
      (
        await client.createOrder(
          { items: [{ productId: product?.id ?? "", quantity: 1 }] },
          bearer(token),
        )
      ).order?.id ?? "";
    const shipped = await place(one);
    const cancelled = await place(two);

    const watchers = pair.map(({ gateway }) => {
      const seen: [string, string][] = [];
      const abort = new AbortController();
      void (async () => {
        const res = await gateway.fetch("http://gateway/graphql", {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "text/event-stream",
            authorization: `Bearer ${token}`,
          },
          body: JSON.stringify({
            query: "subscription ($ids: [ID!]) { orderUpdated(ids: $ids) { id status } }",
            variables: { ids: [shipped, cancelled] },
          }),
          signal: abort.signal,
        });
        const reader = (res.body as ReadableStream<Uint8Array>).getReader();
        abort.signal.addEventListener("abort", () => void reader.cancel().catch(() => {}));
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += decoder.decode(value, { stream: true });
          const complete = buffer.slice(0, buffer.lastIndexOf("\n\n") + 2);
          buffer = buffer.slice(complete.length);
          for (const match of complete.matchAll(/^data: (.*)$/gm)) {
            const order = JSON.parse(match[1] as string).data?.orderUpdated;
            if (order) seen.push([order.id, order.status]);
          }
        }
      })().catch(() => {});
      return { seen, stop: () => abort.abort() };
    });
    await until(() => watchers.every((w) => w.seen.length === 2));
    await two.shipOrder({ id: shipped }, admin);
    await one.cancelOrder({ id: cancelled, reason: "" }, bearer(token));
    await until(() => watchers.every((w) => w.seen.length >= 4));
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const w of watchers) {
      w.stop();
      expect(w.seen).toEqual([
        [shipped, "PLACED"],
        [cancelled, "PLACED"],
        [shipped, "SHIPPED"],
        [cancelled, "CANCELLED"],
      ]);
    }
  }, 60_000);
});
