// selects(): whether a field's selection asks for a subfield, however the document spells it.
import { execute, parse } from "graphql";
import { createSchema } from "graphql-yoga";
import { describe, expect, it } from "vitest";
import { selects } from "./lookahead.js";

const schema = createSchema({
  typeDefs: `
    type Query { item: Item }
    type Item { id: ID, detail: Detail, other: Item }
    type Detail { name: String }
  `,
  resolvers: {
    Query: {
      item: (_, __, seen: { asked: boolean[] }, info) => {
        seen.asked.push(selects(info, "detail"));
        return { id: "1", detail: { name: "d" } };
      },
    },
  },
});

function asks(query: string): boolean[] {
  const seen = { asked: [] as boolean[] };
  const result = execute({ schema, document: parse(query), contextValue: seen }) as {
    errors?: unknown;
  };
  expect(result.errors).toBeUndefined();
  return seen.asked;
}

describe("selects", () => {
  it("sees the subfield asked directly, under an alias too", () => {
    expect(asks("{ item { detail { name } } }")).toEqual([true]);
    expect(asks("{ item { d: detail { name } } }")).toEqual([true]);
  });

  it("sees it through inline fragments and named fragments, nested ones too", () => {
    expect(asks("{ item { ... on Item { detail { name } } } }")).toEqual([true]);
    expect(
      asks("{ item { ...A } } fragment A on Item { ...B } fragment B on Item { detail { name } }"),
    ).toEqual([true]);
  });

  it("counts a selection that @skip may drop as asked", () => {
    expect(asks("{ item { detail @skip(if: true) { name } } }")).toEqual([true]);
  });

  it("does not see it when only other fields, or the subfield of a deeper field, are asked", () => {
    expect(asks("{ item { id } }")).toEqual([false]);
    expect(asks("{ item { other { detail { name } } } }")).toEqual([false]);
    expect(asks("{ item { ...A } } fragment A on Item { id }")).toEqual([false]);
  });

  it("answers each field of a document on its own, asked twice the same", () => {
    expect(asks("{ a: item { id } b: item { detail { name } } }")).toEqual([false, true]);
    expect(asks("{ a: item { id } b: item { detail { name } } }")).toEqual([false, true]);
  });
});
