// The compiled execution (gateway/plugins/jit.ts): which operations take it, and that they
// answer exactly as graphql-js's executor does, with the nested query still 3 RPCs.
import fc from "fast-check";
import type { DocumentNode } from "graphql";
import { createSchema, createYoga, type Plugin } from "graphql-yoga";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jit } from "./plugins/jit.js";
import { type Shaped, validationShapes } from "./plugins/validation-shapes.js";
import {
  type Customer,
  deadUrl,
  type GatewayTestbed,
  openGatewayTestbed,
  type ShopProduct,
  seedShop,
  testGateway,
} from "./testing.js";

describe("when an operation is compiled", () => {
  // A resolver that says whether graphql-jit ran it (the compiler adds `compiled` to its info).
  const yoga = createYoga({
    schema: createSchema({
      typeDefs: "type Query { compiled(n: Int): Boolean! }",
      resolvers: { Query: { compiled: (_, __, ___, info) => "compiled" in info } },
    }),
    plugins: [jit({ compiler: { resolverInfoEnricher: () => ({ compiled: true }) } })],
    logging: false,
  });
  const ask = async (query: string, variables?: Record<string, unknown>) => {
    const res = await yoga.fetch("http://yoga.test/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, body: await res.json() };
  };

  it("runs a document through graphql-js the first time and compiled from the second", async () => {
    const query = "{ compiled }";
    expect(await ask(query)).toEqual({ status: 200, body: { data: { compiled: false } } });
    expect(await ask(query)).toEqual({ status: 200, body: { data: { compiled: true } } });
    expect(await ask(query)).toEqual({ status: 200, body: { data: { compiled: true } } });
  });

  it("leaves an operation whose variables do not coerce to graphql-js: still a 400", async () => {
    const query = "query ($n: Int) { compiled(n: $n) }";
    await ask(query, { n: 1 });
    expect(await ask(query, { n: 2 })).toEqual({ status: 200, body: { data: { compiled: true } } });
    const bad = await ask(query, { n: "two" });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].message).toMatch(/Variable "\$n" got invalid value "two"/);
  });
});

describe("when documents differ only in their literals", () => {
  // Counts the texts actually parsed.
  let parsed = 0;
  const countParses: Plugin = {
    onParse({ parseFn, setParseFn }) {
      setParseFn((...args: Parameters<typeof parseFn>) => {
        parsed += 1;
        return parseFn(...args);
      });
    },
  };
  // Echoes its arguments, and says whether graphql-jit ran it.
  const shaped = new WeakMap<DocumentNode, Shaped>();
  const yoga = createYoga({
    schema: createSchema({
      typeDefs: `type Query { echo(key: String!, id: ID, n: Int, f: Float, list: [ID!]): Echo! }
        type Echo { key: String!, id: ID, n: Int, f: Float, list: [ID!], compiled: Boolean!, broken: Int }`,
      resolvers: {
        Query: {
          echo: (_, args, __, info) => ({ ...args, compiled: "compiled" in info }),
        },
        Echo: {
          broken: () => {
            throw new Error("broken on purpose");
          },
        },
      },
    }),
    plugins: [
      countParses,
      validationShapes([], shaped),
      jit({ shaped, compiler: { resolverInfoEnricher: () => ({ compiled: true }) } }),
    ],
    logging: false,
    maskedErrors: false,
  });
  const ask = async (
    query: string,
    variables?: Record<string, unknown>,
    operationName?: string,
  ) => {
    const res = await yoga.fetch("http://yoga.test/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query, variables, operationName }),
    });
    return (await res.json()) as {
      data?: { echo: Record<string, unknown> };
      errors?: { message: string; locations?: unknown }[];
    };
  };
  const echo = (key: string, id: string, n: number) =>
    `{ echo(key: "${key}", id: ${id}, n: ${n}, f: ${n}, list: ["${key}", ${id}]) { key id n f list compiled } }`;

  it("runs a shape's first document through graphql-js, and each later one compiled with its own values", async () => {
    const answers = [];
    for (const [key, id, n] of [
      ["a", "1", 2],
      ["bb", "22", 33],
      ["ccc", "-0", -3],
      ["", "2147483647", -2147483648],
    ] as const) {
      answers.push((await ask(echo(key, id, n))).data?.echo);
    }
    expect(answers).toEqual([
      { key: "a", id: "1", n: 2, f: 2, list: ["a", "1"], compiled: false },
      { key: "bb", id: "22", n: 33, f: 33, list: ["bb", "22"], compiled: true },
      { key: "ccc", id: "-0", n: -3, f: -3, list: ["ccc", "-0"], compiled: true },
      {
        key: "",
        id: "2147483647",
        n: -2147483648,
        f: -2147483648,
        list: ["", "2147483647"],
        compiled: true,
      },
    ]);
  });

  it("answers any literals of a shape as graphql-js does (property)", async () => {
    // The same schema without the plugins: graphql-js's executor on every document.
    const plain = createYoga({
      schema: createSchema({
        typeDefs:
          "type Query { echo(key: String!, id: ID, n: Int, list: [ID!]): Echo! } type Echo { key: String!, id: ID, n: Int, list: [ID!] }",
        resolvers: { Query: { echo: (_, args) => args } },
      }),
      logging: false,
    });
    const answer = async (server: typeof plain, query: string) =>
      (
        await server.fetch("http://yoga.test/graphql", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query }),
        })
      ).json();
    // Strings a shape ranks: no quote, backslash or line break.
    const plainString = fc.string({ maxLength: 12 }).filter((v) => !/["\\\n\r]/.test(v));
    const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
    await fc.assert(
      fc.asyncProperty(plainString, int32, int32, plainString, async (key, id, n, other) => {
        const query = `# a comment with "quotes" and 12\n{ echo(key: "${key}", id: ${id}, n: ${n}, list: ["${other}", ${id}, "${key}"]) { key id n list } }`;
        const compiled = await ask(query);
        expect(compiled).toEqual(await answer(plain, query));
      }),
      { seed, numRuns: 200 },
    );
  });

  it("does not parse a document of a shape it has compiled, and answers it with its own literals", async () => {
    const order = (key: string, n: number) =>
      `query Place { echo(key: "${key}", n: ${n}) { key n compiled } }`;
    await ask(order("k1", 1));
    await ask(order("k2", 2));
    const before = parsed;
    const answers = [await ask(order("k3", 3)), await ask(order("a longer key", -4))];
    expect(parsed).toBe(before);
    expect(answers.map((a) => a.data?.echo)).toEqual([
      { key: "k3", n: 3, compiled: true },
      { key: "a longer key", n: -4, compiled: true },
    ]);
    // Named or not, and with a name it does not define: each answered as graphql-js would.
    expect((await ask(order("k5", 5), undefined, "Place")).data?.echo).toEqual({
      key: "k5",
      n: 5,
      compiled: true,
    });
    const unknown = await ask(order("k6", 6), undefined, "Other");
    expect(parsed).toBe(before);
    const parsedAsUsual = await ask(`query Place { echo(key: "x", f: 1) { key } }`, {}, "Other");
    expect(unknown.errors?.[0]?.message).toBeDefined();
    expect(unknown.errors).toEqual(parsedAsUsual.errors);
  });

  it("locates a compiled query's errors in each document's own text", async () => {
    const broken = (key: string) => `{\n  echo(key: "${key}") { compiled\n broken } }`;
    const viaGraphqlJs = await ask(broken("first"));
    const compiled = await ask(broken("a much longer key than the first"));
    const unparsed = await ask(broken("k"));
    expect(viaGraphqlJs.data?.echo).toEqual({ compiled: false, broken: null });
    expect(compiled.data?.echo).toEqual({ compiled: true, broken: null });
    expect(unparsed.errors?.[0]?.locations).toEqual([{ line: 3, column: 2 }]);
    expect(compiled.errors?.[0]?.message).toBe("broken on purpose");
    expect(compiled.errors?.[0]?.locations).toEqual([{ line: 3, column: 2 }]);
    expect(viaGraphqlJs.errors?.[0]?.locations).toEqual([{ line: 3, column: 2 }]);
    const sameLine = (key: string) => `{ echo(key: "${key}") { compiled broken } }`;
    await ask(sameLine("x"));
    const moved = await ask(sameLine("a key of another length"));
    expect(moved.data?.echo.compiled).toBe(true);
    const column = sameLine("a key of another length").indexOf("broken") + 1;
    expect(moved.errors?.[0]?.locations).toEqual([{ line: 1, column }]);
  });

  it("keeps a document's own variables beside its literals", async () => {
    const query = (key: string) =>
      `query ($n: Int) { echo(key: "${key}", n: $n) { key n compiled } }`;
    await ask(query("v1"), { n: 1 });
    expect((await ask(query("v3"), { n: 3 })).data?.echo).toEqual({
      key: "v3",
      n: 3,
      compiled: true,
    });
    const refused = await ask(query("v4"), { n: "three" });
    expect(refused.errors?.[0]?.message).toMatch(/Variable "\$n" got invalid value "three"/);
  });

  it("leaves a literal in a default value to the document's own compiled query", async () => {
    const query = (n: number) => `query ($n: Int = ${n}) { echo(key: "k", n: $n) { n compiled } }`;
    const answers = [];
    for (const n of [5, 6, 7, 5]) answers.push((await ask(query(n))).data?.echo);
    expect(answers).toEqual([
      { n: 5, compiled: false },
      { n: 6, compiled: false },
      { n: 7, compiled: false },
      { n: 5, compiled: true },
    ]);
  });
});

describe("compiled answers are graphql-js's answers", () => {
  let t: GatewayTestbed;
  let ada: Customer;
  let bob: Customer;
  let products: ShopProduct[];
  beforeAll(async () => {
    t = await openGatewayTestbed();
    ({ ada, bob, products } = await seedShop(t));
    const [pen, notebook] = products;
    await t.order(ada.token, [[pen?.id as string, 2]]);
    await t.order(ada.token, [
      [notebook?.id as string, 1],
      [pen?.id as string, 1],
    ]);
    await t.order(bob.token, [[notebook?.id as string, 3]]);
  });
  afterAll(() => t?.close());

  // Each is asked three times: once through graphql-js, then twice compiled.
  const cases = (): [string, string, { variables?: Record<string, unknown>; token?: string }][] => [
    [
      "the nested query",
      `{ accounts(pagination: { take: 50 }) { orders { products { product { name } } } } }`,
      { token: t.adminToken },
    ],
    [
      "every field of an order",
      `{ me { id name email role createdAt orders { id totalPrice createdAt account { id name }
         products { id name description price quantity product { id name price stock createdAt } } } } }`,
      { token: ada.token },
    ],
    [
      "a page of products with variables",
      `query ($p: PaginationInput) { products(pagination: $p) { id name description price stock createdAt } }`,
      { variables: { p: { skip: 1, take: 2 } } },
    ],
    [
      "a refused read (an error in data's place)",
      "{\r\n  products(pagination: { take: 1 }) { name }\n\n    a: accounts(pagination: { take: 5 }) { id }\n}",
      { token: bob.token },
    ],
    ["no token", `{ me { id } accounts { id } }`, {}],
    [
      "an unknown id",
      `query ($id: ID) { accounts(id: $id) { id } products(id: $id) { id } }`,
      { variables: { id: "01890000-0000-7000-8000-000000000000" }, token: t.adminToken },
    ],
  ];

  it("answers each operation the same whichever executor ran it", async () => {
    for (const [label, query, options] of cases()) {
      const answers = [];
      for (let i = 0; i < 3; i++) {
        const res = await t.gw.gql(query, options);
        answers.push({ status: res.status, data: res.data, errors: res.errors });
      }
      expect(answers[0], label).toBeDefined();
      expect(answers[1], label).toEqual(answers[0]);
      expect(answers[2], label).toEqual(answers[0]);
    }
  });

  it("answers an ordered product's snapshot, with its catalog entry null and an error at its path, when the catalog cannot answer", async () => {
    // Accounts and orders answer; the catalog's products cannot be read.
    const gw = testGateway({ ...t.stack.urls, catalog: await deadUrl() });
    try {
      const answers = [];
      for (let i = 0; i < 3; i++) {
        const res = await gw.gql<{
          me: { orders: { products: { name: string; product: null }[] }[] };
        }>("{ me { orders { products { name quantity product { name } } } } }", {
          token: ada.token,
        });
        answers.push({ status: res.status, data: res.data, errors: res.errors });
      }
      const [first] = answers;
      const items = first?.data?.me.orders.flatMap((order) => order.products) ?? [];
      expect(items.length).toBe(3);
      expect(items.map((item) => item.name).sort()).toEqual([
        "Fountain pen",
        "Fountain pen",
        "Notebook",
      ]);
      expect(items.every((item) => item.product === null)).toBe(true);
      expect(first?.errors).toHaveLength(3);
      for (const error of first?.errors ?? []) {
        expect(error.extensions?.code).toBe("UNAVAILABLE");
        expect(error.path?.at(-1)).toBe("product");
      }
      expect(answers[1]).toEqual(first);
      expect(answers[2]).toEqual(first);
    } finally {
      gw.close();
    }
  });

  it("still costs the nested query 3 RPCs once compiled", async () => {
    const query = `{ accounts(pagination: { take: 50 }) { name orders { totalPrice products { quantity product { name } } } } }`;
    for (let i = 0; i < 3; i++) {
      t.gw.rpcs.length = 0;
      const res = await t.gw.gql(query, { token: t.adminToken });
      expect(res.errors).toBeUndefined();
      expect(t.gw.rpcs.map((r) => r.method)).toEqual([
        "bazaar.account.v1.AccountService/ListAccounts",
        "bazaar.order.v1.OrderService/BatchListOrdersForAccounts",
        "bazaar.catalog.v1.CatalogService/BatchGetProducts",
      ]);
    }
  });
});
