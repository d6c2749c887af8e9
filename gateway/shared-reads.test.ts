// Identical reads in flight together share one backend call (shared-reads.ts): through the
// gateway against the real services, and the transport alone in front of a catalog whose
// answers the test holds back, for cancellation and deadlines.
import { create } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  createRouterTransport,
  type HandlerContext,
} from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CatalogService,
  type ListProductsRequest,
  ProductSchema,
} from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { shareIdenticalReads } from "./shared-reads.js";
import {
  type GatewayTestbed,
  openGatewayTestbed,
  type Shop,
  seedShop,
  type TestGateway,
} from "./testing.js";

describe("through the gateway", () => {
  let t: GatewayTestbed;
  let gw: TestGateway;
  let shop: Shop;

  beforeAll(async () => {
    t = await openGatewayTestbed();
    gw = t.gw;
    shop = await seedShop(t);
  });

  afterAll(async () => {
    await t?.close();
  });

  const methods = () => gw.rpcs.map((rpc) => rpc.method.split(".").at(-1));

  it("answers identical queries asked together with one call, each with the whole answer", async () => {
    gw.rpcs.length = 0;
    const query = "{ products(pagination: { take: 20 }) { id name price } }";
    const answers = await Promise.all(Array.from({ length: 8 }, () => gw.gql(query)));
    const want = shop.products.map(({ id, name, price }) => ({ id, name, price }));
    for (const answer of answers) {
      expect(answer.errors).toBeUndefined();
      expect(answer.data).toEqual({ products: want });
    }
    expect(methods()).toEqual(["CatalogService/ListProducts"]);
  });

  it("shares every level of a nested query between callers with the same token", async () => {
    await t.order(shop.ada.token, [[shop.products[0]?.id as string, 1]]);
    gw.rpcs.length = 0;
    const query =
      "{ accounts(pagination: { take: 50 }) { orders { products { product { name } } } } }";
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => gw.gql(query, { token: t.adminToken })),
    );
    for (const answer of answers) {
      expect(answer.errors).toBeUndefined();
      expect(answer.data).toEqual(answers[0]?.data);
    }
    expect(JSON.stringify(answers[0]?.data)).toContain("Fountain pen");
    expect(methods()).toEqual([
      "AccountService/ListAccounts",
      "OrderService/BatchListOrdersForAccounts",
      "CatalogService/BatchGetProducts",
    ]);
  });

  it("never shares a call between different credentials", async () => {
    gw.rpcs.length = 0;
    const query = "{ products(pagination: { take: 2 }) { id } }";
    await Promise.all([
      gw.gql(query),
      gw.gql(query, { token: shop.ada.token }),
      gw.gql(query, { token: shop.bob.token }),
      gw.gql(query, { token: shop.bob.token }),
    ]);
    expect(methods()).toEqual(Array(3).fill("CatalogService/ListProducts"));
    // Each customer's own account: the same query, answered for each token apart.
    gw.rpcs.length = 0;
    const [ada, bob] = await Promise.all([
      gw.gql<{ me: { email: string } }>("{ me { email } }", { token: shop.ada.token }),
      gw.gql<{ me: { email: string } }>("{ me { email } }", { token: shop.bob.token }),
    ]);
    expect([ada.data?.me.email, bob.data?.me.email]).toEqual([shop.ada.email, shop.bob.email]);
    expect(methods()).toEqual(Array(2).fill("AccountService/BatchGetAccounts"));
  });

  it("never shares a write", async () => {
    gw.rpcs.length = 0;
    const mutation = `mutation { createProduct(product: { name: "Twin", description: "", price: 1, stock: 1 }) { id } }`;
    const made = await Promise.all(
      [1, 2].map(() =>
        gw.gql<{ createProduct: { id: string } }>(mutation, { token: t.adminToken }),
      ),
    );
    const ids = made.map((res) => res.data?.createProduct.id);
    expect(new Set(ids).size).toBe(2);
    expect(methods()).toEqual(Array(2).fill("CatalogService/CreateProduct"));
  });
});

/**
 * A catalog whose ListProducts answers only when the test releases it, counting the calls
 * that reached it; each answer names the call it came from.
 */
function heldCatalog() {
  const calls: { request: ListProductsRequest; ctx: HandlerContext; release(): void }[] = [];
  const transport = createRouterTransport(({ service }) =>
    service(CatalogService, {
      listProducts(request, ctx) {
        return new Promise((resolve, reject) => {
          const n = calls.length + 1;
          const answer = { products: [create(ProductSchema, { name: `call ${n}` })] };
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
          calls.push({ request, ctx, release: () => resolve(answer) });
        });
      },
    }),
  );
  const client = createClient(CatalogService, shareIdenticalReads(transport));
  const arrived = async (n: number) => {
    for (let i = 0; i < 200 && calls.length < n; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(calls).toHaveLength(n);
  };
  return { client, calls, arrived };
}

const names = (res: { products: { name: string }[] }) => res.products.map((p) => p.name);

describe("the shared transport", () => {
  it("shares a call only until it is sent: a read asked later gets an answer read later", async () => {
    const { client, calls, arrived } = heldCatalog();
    const first = client.listProducts({ take: 5 });
    const second = client.listProducts({ take: 5 });
    await arrived(1);
    const third = client.listProducts({ take: 5 });
    await arrived(2);
    for (const call of calls) call.release();
    expect(names(await first)).toEqual(["call 1"]);
    expect(names(await second)).toEqual(["call 1"]);
    expect(names(await third)).toEqual(["call 2"]);
  });

  it("sends the first caller's request id, and shares between different ones", async () => {
    const { client, calls, arrived } = heldCatalog();
    const asked = ["a", "b"].map((id) =>
      client.listProducts({ take: 5 }, { headers: { "x-request-id": id } }),
    );
    const other = client.listProducts({ take: 6 }, { headers: { "x-request-id": "c" } });
    await arrived(2);
    expect(calls.map((call) => call.ctx.requestHeader.get("x-request-id"))).toEqual(["a", "c"]);
    for (const call of calls) call.release();
    expect((await Promise.all(asked)).map(names)).toEqual([["call 1"], ["call 1"]]);
    expect(names(await other)).toEqual(["call 2"]);
  });

  it("lets one caller cancel alone, and cancels the call when every caller has", async () => {
    const { client, calls, arrived } = heldCatalog();
    const quitter = new AbortController();
    const staying = client.listProducts({ take: 5 });
    const leaving = client.listProducts({ take: 5 }, { signal: quitter.signal });
    await arrived(1);
    quitter.abort();
    await expect(leaving).rejects.toMatchObject({ code: Code.Canceled });
    expect(calls[0]?.ctx.signal.aborted).toBe(false);
    calls[0]?.release();
    expect(names(await staying)).toEqual(["call 1"]);

    const both = [new AbortController(), new AbortController()];
    const gone = both.map((c) => client.listProducts({ take: 7 }, { signal: c.signal }));
    await arrived(2);
    for (const c of both) c.abort();
    for (const call of gone) await expect(call).rejects.toMatchObject({ code: Code.Canceled });
    await expect.poll(() => calls[1]?.ctx.signal.aborted).toBe(true);
  });

  it("keeps each caller's deadline: the shorter fails alone, the call runs to the longer", async () => {
    const { client, calls, arrived } = heldCatalog();
    const patient = client.listProducts({ take: 5 }, { timeoutMs: 10_000 });
    const hasty = client.listProducts({ take: 5 }, { timeoutMs: 50 });
    await arrived(1);
    const error = await hasty.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.DeadlineExceeded);
    // The service was given the longer deadline, and is still at work for the other caller.
    expect(calls[0]?.ctx.timeoutMs()).toBeGreaterThan(5_000);
    expect(calls[0]?.ctx.signal.aborted).toBe(false);
    calls[0]?.release();
    expect(names(await patient)).toEqual(["call 1"]);
  });

  it("gives every caller the failure of the call they shared", async () => {
    const transport = createRouterTransport(({ service }) =>
      service(CatalogService, {
        listProducts() {
          throw new ConnectError("the store is down", Code.Unavailable);
        },
      }),
    );
    const client = createClient(CatalogService, shareIdenticalReads(transport));
    const failed = await Promise.all(
      [1, 2, 3].map(() => client.listProducts({ take: 1 }).catch((e: unknown) => e)),
    );
    for (const error of failed) {
      expect(error).toMatchObject({ code: Code.Unavailable, rawMessage: "the store is down" });
    }
  });
});
