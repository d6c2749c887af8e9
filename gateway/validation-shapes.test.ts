// Validation by shape (plugins/validation-shapes.ts): documents that differ only in their strings
// are validated once, and every answer, refusals included, is the one validation gives.
import { GraphQLError, GraphQLScalarType, Kind, type ValidationRule } from "graphql";
import { createSchema, createYoga, type Plugin } from "graphql-yoga";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { maxShapes, shapeOf, validationShapes } from "./plugins/validation-shapes.js";
import { type GatewayTestbed, openGatewayTestbed, type Shop, seedShop } from "./testing.js";

describe("shapeOf", () => {
  it("writes each string as the rank of its value, and keeps everything else", () => {
    expect(shapeOf(`{ a(x: "k1", y: "p", z: "k1", n: 3) }`)).toBe(
      `{ a(x: "0", y: "1", z: "0", n: 3) }`,
    );
    expect(shapeOf(`{ a(x: "") }`)).toBe(`{ a(x: "0") }`);
  });

  it("leaves comments as written, quotes in them included, and reads # inside a string as text", () => {
    expect(shapeOf(`{ a(x: "#no") # "not a string"\n b(y: "s") }`)).toBe(
      `{ a(x: "0") # "not a string"\n b(y: "1") }`,
    );
  });

  it("has no shape for a document without strings, or with an escape or a block string", () => {
    expect(shapeOf(`{ a(n: 1) }`)).toBeUndefined();
    expect(shapeOf(`{ a(x: "p", y: "a\\"b") }`)).toBeUndefined();
    expect(shapeOf(`{ a(x: "p", y: "\\u0061") }`)).toBeUndefined();
    expect(shapeOf(`{ a(x: """p""") }`)).toBeUndefined();
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
      type Query {
        echo(text: String, id: ID, day: Day, color: Color, n: Int, lines: [Line!]): String
        item(id: ID!): Item
      }
    `,
    resolvers: {
      Day,
      Query: {
        echo: (_: unknown, args: Record<string, unknown>) => JSON.stringify(args),
        item: (_: unknown, { id }: { id: string }) => ({ id, name: `item ${id}` }),
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
  const counting: Plugin = {
    onValidate({ addValidationRule }) {
      addValidationRule(counter);
    },
  };
  const yoga = createYoga({
    schema: schema(),
    plugins: [counting, ...(shapes ? [validationShapes()] : [])],
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
  // Each group: documents of one shape (or nearly), in the order they are sent.
  const documents = [
    `{ echo(text: "a", id: "b") }`,
    `{ echo(text: "c", id: "d") }`,
    `{ echo(text: "e", id: "e") }`,
    `{ echo(text: "f", id: "f") }`,
    `{ echo(lines: [{ id: "p1", quantity: 1 }], text: "key-1") }`,
    `{ echo(lines: [{ id: "p2", quantity: 1 }], text: "key-2") }`,
    `{ echo(lines: [{ id: "p2", quantity: 2 }], text: "key-3") }`,
    // Where a string's value matters, each document is validated: the second is refused.
    `{ echo(day: "2026-01-31") }`,
    `{ echo(day: "31/01/2026") }`,
    `{ echo(color: "RED") }`,
    `{ echo(color: "BLUE") }`,
    `{ echo(n: "1") }`,
    // The same field twice with equal arguments merges; with different ones it is refused.
    `{ a: item(id: "1") { id } a: item(id: "1") { name } }`,
    `{ a: item(id: "2") { id } a: item(id: "3") { name } }`,
    `{ a: item(id: "4") { id } a: item(id: "4") { name } }`,
    // A comment is part of a shape, as written: its quotes open no string.
    `{ echo(text: "x") # "x"\n }`,
    `{ echo(text: "z") # "x"\n }`,
    `{ echo(text: "a\\"b") }`,
    `{ echo(text: """a""") }`,
    `{ echo(text: "g", nope: "h") }`,
    `{ echo(text: "i", nope: "j") }`,
  ];

  it("answers every document as validating it would, validating once per passing shape", async () => {
    const plain = yogaCounting(false);
    const shaped = yogaCounting(true);
    for (const document of documents) {
      const expected = await plain.ask(document);
      expect({ document, ...(await shaped.ask(document)) }).toEqual({ document, ...expected });
    }
    expect(plain.counted.validations).toBe(documents.length);
    // Served by shape: the 2nd, 4th, 6th, 15th and 17th (integers are part of a shape).
    expect(shaped.counted.validations).toBe(documents.length - 5);
    const refused = await plain.ask(`{ echo(day: "31/01/2026") }`);
    expect(refused.body.errors[0].message).toMatch(/Day must be written YYYY-MM-DD/);
  });

  it("keeps the shapes in use when more than it remembers pass by", async () => {
    const shaped = yogaCounting(true);
    const hot = (i: number) => shaped.ask(`{ echo(text: "hot-${i}", id: "x") }`);
    await hot(0);
    for (let i = 0; i < maxShapes * 1.5; i++) {
      // Each a shape of its own (integers are part of a shape), then the hot one again.
      await shaped.ask(`{ echo(text: "once", n: ${i}) }`);
      if (i % 100 === 0) await hot(i + 1);
    }
    const validations = shaped.counted.validations;
    expect(validations).toBe(1 + maxShapes * 1.5);
    await hot(-1);
    expect(shaped.counted.validations).toBe(validations);
    // The first of the others was forgotten: validated again.
    await shaped.ask(`{ echo(text: "again", n: 0) }`);
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

  it("validates createOrder written with a fresh key inline once, and places each order", async () => {
    const pen = shop.products[0]?.id as string;
    const place = (key: string) =>
      t.gw.gql<{ createOrder: { id: string } }>(
        `mutation { createOrder(order: { products: [{ id: "${pen}", quantity: 1 }], idempotencyKey: "${key}" }) { id } }`,
        { token: shop.ada.token },
      );
    const before = await validated();
    const placed = [await place("shape-1"), await place("shape-2"), await place("shape-3")];
    expect(placed.map((res) => res.errors)).toEqual([undefined, undefined, undefined]);
    const ids = placed.map((res) => res.data?.createOrder.id);
    expect(new Set(ids).size).toBe(3);
    expect(await validated()).toBe(before + 1);
    // Idempotency is the service's, as before: the same key is the same order.
    expect((await place("shape-2")).data?.createOrder.id).toBe(ids[1]);
    // A product that does not exist passes validation as an ID and is refused by the order.
    const missing = await t.gw.gql(
      `mutation { createOrder(order: { products: [{ id: "nope", quantity: 1 }], idempotencyKey: "shape-4" }) { id } }`,
      { token: shop.ada.token },
    );
    expect(missing.code).toBe("BAD_USER_INPUT");
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
