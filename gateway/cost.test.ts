// The cost model and the limits Armor cannot express, on documents alone (no services).
import { buildSchema, parse } from "graphql";
import { describe, expect, it } from "vitest";
import { countFields, operationCosts } from "./limits.js";
import { checkNesting } from "./nesting.js";
import { typeDefs } from "./server.js";

const schema = buildSchema(typeDefs);
const cost = (query: string) => [...operationCosts(parse(query), schema, 100).values()][0];

describe("the cost model", () => {
  it("counts __typename and introspection fields like any other field", () => {
    expect(cost(`{ products(pagination: { take: 100 }) { id } }`)).toBe(101);
    expect(cost(`{ products(pagination: { take: 100 }) { id __typename } }`)).toBe(201);
    expect(cost(`{ __typename }`)).toBe(1);
    // __schema (1) + types, a list of 10 assumed rows × (name 1 + fields list 10 × name 1).
    expect(cost(`{ __schema { types { name fields { name } } } }`)).toBe(1 + 1 + 10 * (1 + 1 + 10));
  });

  it("costs each fragment once however often it is spread, and stays exact", () => {
    const levels = 200;
    const fragments = Array.from(
      { length: levels },
      (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`,
    ).join(" ");
    const query = `{ ...F0 } ${fragments} fragment F${levels} on Query { products(pagination: { take: 1 }) { id } }`;
    const started = performance.now();
    // 2^200 spreads of a field costing 2: the sum is exact in a double.
    expect(cost(query)).toBe(2 ** 201);
    expect(performance.now() - started).toBeLessThan(100);
  });

  it("counts fields as written, and refuses brackets nested past the limit", () => {
    expect(
      countFields(parse(`{ a: products { id } ...F } fragment F on Query { me { id } }`)),
    ).toBe(4);
    expect(() =>
      checkNesting(`{ products(id: ${"[".repeat(65)}${"]".repeat(65)}) { id } }`, 64, 2000),
    ).toThrow(/nest deeper than the limit of 64/);
    expect(() => checkNesting(`{ a { b { c } } }`, 64, 2000)).not.toThrow();
    // A bracket inside a string is not nesting.
    expect(() =>
      checkNesting(`{ products(query: "${"[".repeat(100)}") { id } }`, 64, 2000),
    ).not.toThrow();
  });
});
