// Validation by shape (plugins/validation-shapes.ts): documents that differ only in their strings
// are validated once, and every answer, refusals included, is the one validation gives.
import { GraphQLError, GraphQLScalarType, Kind, type ValidationRule } from "graphql";
import { createSchema, createYoga, type Plugin } from "graphql-yoga";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { maxShapes, shapesOf, validationShapes } from "./plugins/validation-shapes.js";
import { type GatewayTestbed, openGatewayTestbed, type Shop, seedShop } from "./testing.js";

describe("shapesOf", () => {
  it("writes each string, and in `all` each integer, as the rank of its value", () => {
    expect(shapesOf(`{ a(x: "k1", y: "p", z: "k1", n: 3, m: -3, o: 3) }`)).toEqual({
      strings: `{ a(x: "0", y: "1", z: "0", n: 3, m: -3, o: 3) }`,
      all: `{ a(x: "0", y: "1", z: "0", n: 0, m: 1, o: 0) }`,
    });
    expect(shapesOf(`{ a(x: "") }`)).toEqual({ strings: `{ a(x: "0") }` });
    expect(shapesOf(`{ a(n: [1, 2]) }`)).toEqual({ all: `{ a(n: [0, 1]) }` });
  });

  it("leaves floats, names with digits, variables and comments as written", () => {
    const text = `query ($v1: Int) { p1: a(f: 1.5, g: 2e3, h: 1.5e-3, i: -0.25, v: $v1) # "x" 7\n b(y: "s", n: 4) }`;
    expect(shapesOf(text)).toEqual({
      strings: text.replace(`"s"`, `"0"`),
      all: text.replace(`"s"`, `"0"`).replace("n: 4", "n: 0"),
    });
  });

  it("reads # and digits inside a string as text", () => {
    expect(shapesOf(`{ a(x: "#no 5") }`)).toEqual({ strings: `{ a(x: "0") }` });
  });

  it("has no shape for a document without literals, or with an escape or a block string", () => {
    expect(shapesOf(`{ a { b } }`)).toEqual({});
    expect(shapesOf(`{ a(f: 1.5) }`)).toEqual({});
    expect(shapesOf(`{ a(x: "p", y: "a\\"b") }`)).toEqual({});
    expect(shapesOf(`{ a(x: "p", y: "\\u0061") }`)).toEqual({});
    expect(shapesOf(`{ a(x: """p""", n: 1) }`)).toEqual({});
  });

  it("ranks no integers in a document with one that is not 32-bit", () => {
    expect(shapesOf(`{ a(x: "p", n: 2147483648, m: 1) }`)).toEqual({
      strings: `{ a(x: "0", n: 2147483648, m: 1) }`,
    });
    expect(shapesOf(`{ a(n: -2147483648, m: 2147483647) }`)).toEqual({ all: `{ a(n: 0, m: 1) }` });
  });
});

/** A day as YYYY-MM-DD: a scalar whose literals are accepted or refused by their value. */
const Day = new GraphQLScalarType({
  name: "Day",
  parseValue: (value) => value,
  parseLiteral(node) {
    if (node.kind === Kind.STRING && /^\d{4}-\d{2}-\d{2}$/.test(node.value)) return node.value;
    throw new GraphQLError("Day must be written YYYY-MM-DD");
  },
});

const schema = () =>
  createSchema({
    typeDefs: `
      scalar Day
      enum Color { RED GREEN }
      type Item { id: ID! name: String }
      input Line { id: ID! quantity: Int! }
      input Page { take: Int }
      type Query {
        echo(text: String, id: ID, day: Day, color: Color, n: Int, f: Float, lines: [Line!]): String
        item(id: ID!): Item
        thing(n: Int!): Item
        list(pagination: Page, query: String): [Item!]!
      }
    `,
    resolvers: {
      Day,
      Query: {
        echo: (_: unknown, args: Record<string, unknown>) => JSON.stringify(args),
        item: (_: unknown, { id }: { id: string }) => ({ id, name: `item ${id}` }),
        thing: (_: unknown, { n }: { n: number }) => ({ id: String(n), name: `thing ${n}` }),
        list: () => [{ id: "1", name: "one" }],
      },
    },
  });

/** A Yoga, with or without validation by shape, that counts the validations it runs. */
function yogaCounting(shapes: boolean) {
  const counted = { validations: 0 };
  const counter: ValidationRule = () => {
    counted.validations++;
    return {};
  };
  // Like the cost model: a rule that reads the literal `take` of a `pagination` argument.
  const takeAtMost10: ValidationRule = (context) => ({
    ObjectField(field) {
      if (field.name.value !== "take" || field.value.kind !== Kind.INT) return;
      if (Number(field.value.value) > 10) context.reportError(new GraphQLError("take over 10"));
    },
  });
  const counting: Plugin = {
    onValidate({ addValidationRule }) {
      addValidationRule(counter);
      addValidationRule(takeAtMost10);
    },
  };
  const yoga = createYoga({
    schema: schema(),
    plugins: [counting, ...(shapes ? [validationShapes(["pagination"])] : [])],
    logging: false,
  });
  const ask = async (query: string) => {
    const res = await yoga.fetch("http://yoga.test/graphql", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/graphql-response+json",
      },
      body: JSON.stringify({ query }),
    });
    return { status: res.status, body: await res.json() };
  };
  return { counted, ask };
}

describe("validation by shape", () => {
  // Each document, in the order sent, and whether a shape seen before serves it (no validation).
  const documents: [string, boolean][] = [
    [`{ echo(text: "a", id: "b") }`, false],
    [`{ echo(text: "c", id: "d") }`, true],
    // Equal strings: another shape.
    [`{ echo(text: "e", id: "e") }`, false],
    [`{ echo(text: "f", id: "f") }`, true],
    [`{ echo(lines: [{ id: "p1", quantity: 1 }], text: "key-1") }`, false],
    [`{ echo(lines: [{ id: "p2", quantity: 1 }], text: "key-2") }`, true],
    [`{ echo(lines: [{ id: "p2", quantity: 2 }], text: "key-3") }`, true],
    [`{ echo(lines: [{ id: "p2", quantity: 2 }], text: "key-3", n: 2) }`, false],
    [`{ echo(lines: [{ id: "p3", quantity: 5 }], text: "key-4", n: 5) }`, true],
    // Int's 32-bit range is validation's to refuse.
    [`{ echo(n: 7, text: "a") }`, false],
    [`{ echo(n: 2147483648, text: "b") }`, false],
    [`{ echo(n: -2147483648, text: "c") }`, true],
    // Floats are part of a shape; an integer where a Float goes may be any.
    [`{ echo(f: 1.5, n: 1) }`, false],
    [`{ echo(f: 1.5, n: 2) }`, true],
    [`{ echo(f: 2.5, n: 2) }`, false],
    [`{ echo(f: 3) }`, false],
    [`{ echo(f: 4) }`, true],
    // Where a literal's value matters, each document is validated: some are refused.
    [`{ echo(day: "2026-01-31") }`, false],
    [`{ echo(day: "31/01/2026") }`, false],
    [`{ echo(color: "RED") }`, false],
    [`{ echo(color: "BLUE") }`, false],
    [`{ echo(n: "1") }`, false],
    [`{ echo(text: 1) }`, false],
    [`{ echo(text: 2) }`, false],
    // A rule reads `take`: the integers of such a shape stay as written, its strings are ranked.
    [`{ list(pagination: { take: 5 }, query: "a") { id } }`, false],
    [`{ list(pagination: { take: 5 }, query: "b") { id } }`, true],
    [`{ list(pagination: { take: 50 }, query: "c") { id } }`, false],
    [`{ list(pagination: { take: 6 }, query: "d") { id } }`, false],
    // The same field twice with equal arguments merges; with different ones it is refused.
    [`{ a: item(id: "1") { id } a: item(id: "1") { name } }`, false],
    [`{ a: item(id: "2") { id } a: item(id: "3") { name } }`, false],
    [`{ a: item(id: "4") { id } a: item(id: "4") { name } }`, true],
    [`{ a: thing(n: 1) { id } a: thing(n: 1) { name } }`, false],
    [`{ a: thing(n: 2) { id } a: thing(n: 3) { name } }`, false],
    [`{ a: thing(n: 4) { id } a: thing(n: 4) { name } }`, true],
    // A comment is part of a shape, as written: its quotes open no string.
    [`{ echo(text: "x") # "x" 1\n }`, false],
    [`{ echo(text: "z") # "x" 1\n }`, true],
    [`{ echo(text: "a\\"b") }`, false],
    [`{ echo(text: """a""") }`, false],
    [`{ echo(text: "g", nope: "h") }`, false],
    [`{ echo(text: "i", nope: "j") }`, false],
  ];

  it("answers every document as validating it would, validating once per passing shape", async () => {
    const plain = yogaCounting(false);
    const shaped = yogaCounting(true);
    for (const [document, served] of documents) {
      const expected = await plain.ask(document);
      const before = shaped.counted.validations;
      expect({ document, ...(await shaped.ask(document)) }).toEqual({ document, ...expected });
      expect({ document, served: shaped.counted.validations === before }).toEqual({
        document,
        served,
      });
    }
    expect(plain.counted.validations).toBe(documents.length);
    for (const [document, message] of [
      [`{ echo(day: "31/01/2026") }`, /Day must be written YYYY-MM-DD/],
      [`{ echo(n: 2147483648, text: "b") }`, /Int cannot represent non 32-bit/],
      [`{ list(pagination: { take: 50 }, query: "c") { id } }`, /take over 10/],
      [`{ a: thing(n: 2) { id } a: thing(n: 3) { name } }`, /conflict/],
    ] as const) {
      expect((await shaped.ask(document)).body.errors[0].message).toMatch(message);
    }
  });

  it("keeps the shapes in use when more than it remembers pass by", async () => {
    const shaped = yogaCounting(true);
    const hot = (i: number) => shaped.ask(`{ echo(text: "hot-${i}", id: "x") }`);
    await hot(0);
    for (let i = 0; i < maxShapes * 1.5; i++) {
      // Each a shape of its own (names are part of a shape), now and then the hot one again.
      await shaped.ask(`{ a${i}: echo(text: "once") }`);
      if (i % 100 === 0) await hot(i + 1);
    }
    const validations = shaped.counted.validations;
    expect(validations).toBe(1 + maxShapes * 1.5);
    await hot(-1);
    expect(shaped.counted.validations).toBe(validations);
    // The first of the others was forgotten: validated again.
    await shaped.ask(`{ a0: echo(text: "again") }`);
    expect(shaped.counted.validations).toBe(validations + 1);
  });
});

describe("validation by shape in the gateway", () => {
  let t: GatewayTestbed;
  let shop: Shop;
  beforeAll(async () => {
    t = await openGatewayTestbed();
    shop = await seedShop(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  const validated = async () =>
    Number(
      /^graphql_documents_validated_total\{[^}]*\} (\d+)/m.exec(
        await (await t.gw.gateway.fetch("http://gateway.test/metrics")).text(),
      )?.[1] ?? Number.NaN,
    );

  it("validates createOrder written with a fresh key and quantity inline once, and places each order", async () => {
    const pen = shop.products[0]?.id as string;
    const place = (key: string, quantity: number) =>
      t.gw.gql<{ createOrder: { id: string } }>(
        `mutation { createOrder(order: { products: [{ id: "${pen}", quantity: ${quantity} }], idempotencyKey: "${key}" }) { id } }`,
        { token: shop.ada.token },
      );
    const before = await validated();
    const placed = [
      await place("shape-1", 1),
      await place("shape-2", 2),
      await place("shape-3", 1),
    ];
    expect(placed.map((res) => res.errors)).toEqual([undefined, undefined, undefined]);
    const ids = placed.map((res) => res.data?.createOrder.id);
    expect(new Set(ids).size).toBe(3);
    expect(await validated()).toBe(before + 1);
    // Idempotency is the service's, as before: the same key is the same order.
    expect((await place("shape-2", 2)).data?.createOrder.id).toBe(ids[1]);
    // A quantity out of Int's range is refused by validation, as before.
    const huge = await place("shape-5", 2 ** 31);
    expect(huge.errors?.[0]?.message).toMatch(/Int cannot represent non 32-bit signed integer/);
    // A product that does not exist passes validation as an ID and is refused by the order.
    const missing = await t.gw.gql(
      `mutation { createOrder(order: { products: [{ id: "nope", quantity: 1 }], idempotencyKey: "shape-4" }) { id } }`,
      { token: shop.ada.token },
    );
    expect(missing.code).toBe("BAD_USER_INPUT");
  });

  it("refuses by cost a document whose shape passed with a smaller take", async () => {
    const query = (take: number, id: string) =>
      `{ accounts(pagination: { take: ${take} }, id: "${id}") { orders { products { product { name description } } } } }`;
    const before = await validated();
    expect((await t.gw.gql(query(1, shop.ada.id), { token: t.adminToken })).errors).toBeUndefined();
    expect((await t.gw.gql(query(1, shop.bob.id), { token: t.adminToken })).errors).toBeUndefined();
    expect(await validated()).toBe(before + 1);
    const heavy = await t.gw.gql(query(1000, shop.bob.id), { token: t.adminToken });
    expect(heavy.status).toBe(400);
    expect(heavy.errors?.[0]?.message).toMatch(
      /too expensive: its estimated cost is 311001, the limit is 50000/,
    );
  });

  it("still refuses each document whose strings stand where their value matters", async () => {
    const before = await validated();
    for (const status of ["PAID", "NOT_A_STATUS"]) {
      const res = await t.gw.gql(`{ orders(status: "${status}") { id } }`, {
        token: t.adminToken,
      });
      expect(res.status).toBe(400);
      expect(res.errors?.[0]?.message).toMatch(/Enum "OrderStatus" cannot represent non-enum/);
    }
    expect(await validated()).toBe(before + 2);
  });
});
