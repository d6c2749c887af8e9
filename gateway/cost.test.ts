// The cost model and the limits Armor cannot express, on documents alone (no services).
import { buildSchema, getIntrospectionQuery, parse } from "graphql";
import { describe, expect, it } from "vitest";
import { countFields, operationCosts } from "./limits.js";
import { checkNesting } from "./nesting.js";
import { typeDefs } from "./server.js";

const schema = buildSchema(typeDefs);
const cost = (query: string) => [...operationCosts(parse(query), schema, 100).values()][0];

describe("the cost model", () => {
  it("counts __typename like any other field", () => {
    expect(cost(`{ products(pagination: { take: 100 }) { id } }`)).toBe(101);
    expect(cost(`{ products(pagination: { take: 100 }) { id __typename } }`)).toBe(201);
    expect(cost(`{ __typename }`)).toBe(1);
  });

  // GraphiQL's schema query: graphql-js's, every option on (it was refused at 51,833).
  const schemaQuery = getIntrospectionQuery({
    descriptions: true,
    schemaDescription: true,
    inputValueDeprecation: true,
    specifiedByUrl: true,
    directiveIsRepeatable: true,
    oneOf: true,
  });

  it("costs the standard introspection query one per field written, whatever the schema", () => {
    // Fields written once each fragment is expanded where it is spread.
    const written = cost(schemaQuery) as number;
    expect(written).toBeGreaterThan(countFields(parse(schemaQuery)));
    expect(written).toBeLessThan(300);
    // A schema ten times larger costs the same: the answer grows with the schema, not the data.
    const large = buildSchema(
      `${typeDefs}\n${Array.from({ length: 300 }, (_, i) => `type Extra${i} { a: [Extra${i}] b: Int }`).join("\n")}`,
    );
    expect([...operationCosts(parse(schemaQuery), large, 100).values()][0]).toBe(written);
    // Any subset of it, with fragments inlined or not, is standard too.
    expect(cost(`{ __schema { types { name fields { name } } } }`)).toBe(5);
    expect(cost(`{ __type(name: "Product") { name fields { name type { kind name } } } }`)).toBe(7);
    expect(
      cost(`{ __schema { queryType { name } } products(pagination: { take: 2 }) { id } }`),
    ).toBe(3 + 3);
  });

  it("costs any other introspection as data", () => {
    // The lists of a type reached through a reference multiply at each level.
    expect(
      cost(`{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }`),
      // __schema, types × 10 (fields × 10 (type (fields × 10 (type (fields × 10 (name)))))).
    ).toBe(1 + 1 + 10 * (1 + 10 * (1 + 1 + 10 * (1 + 1 + 10 * 1))));
    // An alias, so the same lists twice: the whole query as data.
    const aliased = schemaQuery.replace("__schema {", "schema: __schema {");
    expect(cost(aliased)).toBeGreaterThan(50_000);
    // An ofType chain past graphql-js's 9.
    const ofTypes = (n: number): string => (n === 0 ? "name" : `name ofType { ${ofTypes(n - 1)} }`);
    expect(cost(`{ __schema { types { fields { type { ${ofTypes(9)} } } } } }`)).toBe(
      countFields(parse(`{ __schema { types { fields { type { ${ofTypes(9)} } } } } }`)),
    );
    // __schema, types × 10 (fields × 10 (type (name, 10 × ofType and name))).
    expect(cost(`{ __schema { types { fields { type { ${ofTypes(10)} } } } } }`)).toBe(
      1 + 1 + 10 * (1 + 10 * (1 + 21)),
    );
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
