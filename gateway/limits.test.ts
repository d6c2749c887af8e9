// The limits that protect the services: depth, cost, body size, page size, malformed
// requests, introspection.
import { getIntrospectionQuery } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type GatewayTestbed,
  listeningGateway,
  openGatewayTestbed,
  type Stack,
  type TestGateway,
  testGateway,
} from "./testing.js";

let t: GatewayTestbed;
let gw: TestGateway;
let stack: Stack;
let adminToken: string;

beforeAll(async () => {
  t = await openGatewayTestbed();
  ({ gw, stack, adminToken } = t);
});

afterAll(async () => {
  await t?.close();
});

describe("limits", () => {
  it("refuses a query deeper than 10 with a 400 saying so", async () => {
    const deep = `{ me { orders { account { orders { account { orders { account { orders { account { orders { id } } } } } } } } } } }`;
    const res = await gw.gql(deep, { token: adminToken });
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.message).toMatch(/depth limit of 10 exceeded, found 11/);
    const ok = `{ me { orders { account { orders { account { orders { account { orders { id } } } } } } } } }`;
    expect((await gw.gql(ok, { token: adminToken })).errors).toBeUndefined();
  });

  it("refuses a query over the cost limit before calling anything", async () => {
    const heavy = `{ ${Array.from(
      { length: 5 },
      (_, i) =>
        `a${i}: accounts(pagination: { take: 100 }) { orders { products { product { name description } } } }`,
    ).join(" ")} }`;
    gw.rpcs.length = 0;
    const res = await gw.gql(heavy, { token: adminToken });
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.message).toMatch(
      /too expensive: its estimated cost is \d+, the limit is 50000/,
    );
    expect(gw.rpcs).toEqual([]);
  });

  it("answers 413 to a body over 1 MiB, and keeps serving", async () => {
    const body = JSON.stringify({
      query: `{ products { id } }`,
      variables: { pad: "x".repeat(1024 * 1024) },
    });
    const res = await gw.gateway.fetch("http://gateway.test/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    expect(res.status).toBe(413);
    expect((await gw.gql(`{ products { id } }`)).status).toBe(200);
  });

  it("over a socket, refuses a body over the limit by its Content-Length or as it arrives chunked", async () => {
    const running = await listeningGateway(stack.urls, { MAX_BODY_BYTES: "2048" });
    try {
      const post = (body: string, chunked: boolean) =>
        fetch(`${running.url}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          // A stream has no length: fetch sends it chunked, with no Content-Length.
          body: chunked ? new Blob([body]).stream() : body,
          duplex: "half",
        } as RequestInit);
      const padded = (bytes: number) => {
        const bare = JSON.stringify({ query: "{ __typename }", variables: { pad: "" } });
        return JSON.stringify({
          query: "{ __typename }",
          variables: { pad: "x".repeat(bytes - bare.length) },
        });
      };
      for (const chunked of [false, true]) {
        const atLimit = await post(padded(2048), chunked);
        expect(atLimit.status, `chunked: ${chunked}`).toBe(200);
        expect(await atLimit.json()).toEqual({ data: { __typename: "Query" } });
        const over = await post(padded(2049), chunked);
        expect(over.status, `chunked: ${chunked}`).toBe(413);
        expect(((await over.json()) as { errors: { message: string }[] }).errors[0]?.message).toBe(
          "Request body too large",
        );
      }
    } finally {
      await running.stop();
    }
  });

  it("refuses take above 100, as a literal or a variable", async () => {
    const res = await gw.gql(`{ products(pagination: { take: 101 }) { id } }`);
    expect(res.code).toBe("BAD_USER_INPUT");
    expect(res.errors?.[0]?.extensions?.fields).toEqual([
      { field: "pagination.take", message: "must be 1 to 100" },
    ]);
    const viaVariable = await gw.gql(
      `query ($p: PaginationInput) { accounts(pagination: $p) { id } }`,
      { variables: { p: { take: 1000, skip: -1 } }, token: adminToken },
    );
    expect(viaVariable.errors?.[0]?.extensions?.fields?.map((f) => f.field)).toEqual([
      "pagination.skip",
      "pagination.take",
    ]);
  });

  it("answers malformed requests with a 4xx that says what is wrong", async () => {
    const post = (body: string) =>
      gw.gateway.fetch("http://gateway.test/graphql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
    const badJson = await post("{ not json");
    expect(badJson.status).toBe(400);
    // A body that is no GraphQL request: a 400 naming the parameter, whatever the client accepts.
    for (const [body, problem] of [
      [{ query: 5 }, 'the "query" parameter must be a string, not number'],
      [{ query: { x: 1 } }, 'the "query" parameter must be a string, not object'],
      [{ query: ["{ __typename }"] }, 'the "query" parameter must be a string, not array'],
      [{ query: true }, 'the "query" parameter must be a string, not boolean'],
      [{ query: "{ __typename }", operationName: 5 }, '"operationName" parameter must be a string'],
      [{ query: "{ __typename }", variables: [] }, 'the "variables" parameter must be a map'],
      [{ query: "{ __typename }", extensions: "x" }, 'the "extensions" parameter must be a map'],
    ] as const) {
      for (const accept of ["application/json", "application/graphql-response+json"]) {
        const res = await gw.gateway.fetch("http://gateway.test/graphql", {
          method: "POST",
          headers: { "content-type": "application/json", accept },
          body: JSON.stringify(body),
        });
        const answer = (await res.json()) as { errors: { message: string; extensions: unknown }[] };
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(answer.errors[0]?.message).toContain(problem);
        expect(answer.errors[0]?.extensions).toEqual({ code: "BAD_REQUEST" });
      }
    }
    // A document that does not parse or validate, variables that do not coerce, or an operation
    // name the document does not define is a 400 for a client that accepts
    // application/graphql-response+json; one that accepts only application/json gets a 200 with
    // the same errors, as the GraphQL-over-HTTP spec says.
    for (const [query, variables, operationName] of [
      ["{ products { id nope } }", undefined],
      ["{ products { id }", undefined],
      ["{ __typename(x: 1) }", undefined],
      ["query ($t: Int) { products(pagination: { take: $t }) { id } }", { t: "many" }],
      ["query Q { __typename }", undefined, "Nope"],
    ] as const) {
      const answers: { status: number; body: { errors: unknown[] } }[] = [];
      for (const accept of ["application/json", "application/graphql-response+json"]) {
        const res = await gw.gateway.fetch("http://gateway.test/graphql", {
          method: "POST",
          headers: { "content-type": "application/json", accept },
          body: JSON.stringify({ query, variables, operationName }),
        });
        answers.push({ status: res.status, body: (await res.json()) as { errors: unknown[] } });
      }
      expect(
        answers.map((a) => a.status),
        query,
      ).toEqual([200, 400]);
      expect(answers[0]?.body, query).toEqual(answers[1]?.body);
      expect(answers[0]?.body.errors.length, query).toBeGreaterThan(0);
    }
    const unknownField = await gw.gql(`{ products { id price_cents } }`);
    expect(unknownField.status).toBe(400);
    expect(unknownField.errors?.[0]?.message).toContain('Cannot query field "price_cents"');
    const wrongType = await gw.gql(
      `query ($t: Int) { products(pagination: { take: $t }) { id } }`,
      {
        variables: { t: "many" },
      },
    );
    expect(wrongType.status).toBe(400);
    expect(wrongType.code).toBe("BAD_USER_INPUT");
    expect(wrongType.errors?.[0]?.message).toMatch(/Int cannot represent/);
    expect(wrongType.errors?.[0]?.extensions).not.toHaveProperty("http");
    const syntax = await gw.gql(`{ products { id }`);
    expect(syntax.status).toBe(400);
    expect(syntax.errors?.[0]?.message).toMatch(/Syntax Error/);
    const viaGet = await gw.gateway.fetch(
      `http://gateway.test/graphql?query=${encodeURIComponent('mutation { login(email: "a", password: "b") { token } }')}`,
      { headers: { accept: "application/json" } },
    );
    expect(viaGet.status).toBe(405);
  });

  it("validates a document once: a repeated query is served from Yoga's cache", async () => {
    const validated = async () =>
      Number(
        /^graphql_documents_validated_total\{[^}]*\} (\d+)/m.exec(
          await (await gw.gateway.fetch("http://gateway.test/metrics")).text(),
        )?.[1] ?? Number.NaN,
      );
    const query = `{ products(pagination: { take: 3 }) { id name } cached: __typename }`;
    const before = await validated();
    for (let i = 0; i < 3; i++) expect((await gw.gql(query)).errors).toBeUndefined();
    expect(await validated()).toBe(before + 1);
  });

  it("answers GraphiQL's schema query, and refuses introspection past the standard shape", async () => {
    const schemaQuery = getIntrospectionQuery({
      descriptions: true,
      schemaDescription: true,
      inputValueDeprecation: true,
      specifiedByUrl: true,
      directiveIsRepeatable: true,
      oneOf: true,
    });
    gw.rpcs.length = 0;
    const schema = await gw.gql<{ __schema: { types: { name: string }[] } }>(schemaQuery);
    expect(schema.errors).toBeUndefined();
    expect(schema.data?.__schema.types.map((t) => t.name)).toContain("Product");
    expect(gw.rpcs).toEqual([]);
    // Aliased (so it could ask for the lists twice): held to the depth limit, costed as data.
    const aliased = await gw.gql(schemaQuery.replace("__schema {", "schema: __schema {"));
    expect(aliased.status).toBe(400);
    expect(aliased.errors?.map((e) => e.message)).toEqual([
      expect.stringMatching(/^Query depth limit of 10 exceeded/),
      expect.stringMatching(/too expensive/),
    ]);
    // The lists of types reached through references, nested: costed as data.
    const lists = await gw.gql(
      `{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }`,
    );
    expect(lists.status).toBe(400);
    expect(lists.errors?.[0]?.message).toMatch(/too expensive: its estimated cost is 122212/);
    // ofType past graphql-js's 9, under __schema (which GraphQL Armor's depth skips) or __type.
    const ofTypes = (n: number): string => (n === 0 ? "name" : `name ofType { ${ofTypes(n - 1)} }`);
    const deep = await gw.gql(`{ __schema { types { fields { type { ${ofTypes(10)} } } } } }`);
    expect(deep.status).toBe(400);
    expect(deep.errors?.[0]?.message).toBe("Query depth limit of 10 exceeded, found 15.");
    const deepType = await gw.gql(`{ __type(name: "Query") { ${ofTypes(10)} } }`);
    expect(deepType.status).toBe(400);
    expect(deepType.errors?.[0]?.message).toMatch(/depth limit of 10 exceeded/);
  });

  it("turns introspection off when configured", async () => {
    const closed = testGateway(stack.urls, { GRAPHQL_INTROSPECTION: "false" });
    try {
      const res = await closed.gql(`{ __schema { types { name } } }`);
      expect(res.status).toBe(400);
      expect(res.errors?.[0]?.message).toMatch(/introspection/i);
      expect((await gw.gql(`{ __schema { queryType { name } } }`)).errors).toBeUndefined();
    } finally {
      closed.close();
    }
  });
});
