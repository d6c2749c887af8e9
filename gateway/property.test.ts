// Property-based: generated GraphQL operations, variables, documents and raw requests against
// the gateway over the real services. Every answer is a 4xx or a proper GraphQL error with a
// spec code, never a 5xx, an INTERNAL_SERVER_ERROR or a stack; afterwards the services still
// serve and their data still adds up. The seed is printed: FC_SEED=<seed> replays a run.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Customer,
  type GatewayTestbed,
  openGatewayTestbed,
  type Shop,
  seedShop,
} from "./testing.js";

const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
const runs = Number(process.env.FC_RUNS ?? 1_500);

let t: GatewayTestbed;
let shop: Shop;
let tokens: (string | undefined)[];

beforeAll(async () => {
  console.log(`fast-check seed ${seed} (FC_SEED=${seed} replays it), ${runs} runs a property`);
  t = await openGatewayTestbed();
  shop = await seedShop(t);
  const forged = `${t.adminToken.slice(0, -6)}AAAAAA`;
  tokens = [undefined, t.adminToken, shop.ada.token, forged, "not-a-token", ""];
});

afterAll(async () => {
  await t?.close();
});

/** The codes an answer may carry: the spec's table and graphql-js's request errors. */
const codes = new Set([
  "BAD_USER_INPUT",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "OUT_OF_STOCK",
  "FAILED_PRECONDITION",
  "RATE_LIMITED",
  "UNAVAILABLE",
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  // Yoga's, for a request HTTP refuses (a mutation over GET: 405, parameters of the wrong type).
  "BAD_REQUEST",
  // Yoga's, for an operationName the document does not define.
  "OPERATION_RESOLUTION_FAILURE",
]);

/**
 * Issue 9 item 13 is the services': a control character in a string reaches SQL and fails
 * there (NUL in a login email: INTERNAL). Until the services refuse such strings, an
 * INTERNAL_SERVER_ERROR is tolerated for a request that carries one, and counted; set this to
 * false once that lands.
 */
const tolerateControlCharacters = false;
let tolerated = 0;
// JSON.stringify writes control characters as \u00XX (\t, \n, \r, \b, \f aside).
const controlCharacter = /\\u00[01][0-9a-f]|\\[bfnrt]/i;

interface Sent {
  label: string;
  init: RequestInit;
  url?: string;
  /** The status the answer must have, where the spec fixes one. */
  status?: number;
}

async function answerIsProper({ label, init, url, status }: Sent): Promise<void> {
  const res = await t.gw.gateway.fetch(url ?? "http://gateway.test/graphql", init);
  const text = await res.text();
  const context = `${label} → ${res.status} ${text.slice(0, 400)}`;
  if (
    tolerateControlCharacters &&
    res.status === 200 &&
    text.includes('"INTERNAL_SERVER_ERROR"') &&
    controlCharacter.test(String(init.body ?? url))
  ) {
    tolerated++;
    return;
  }
  expect(res.status, context).toBeLessThan(500);
  if (status !== undefined) expect(res.status, context).toBe(status);
  expect(text, context).not.toMatch(/\n\s+at |node_modules|INTERNAL_SERVER_ERROR/);
  if (!(res.headers.get("content-type") ?? "").includes("json")) {
    expect(res.status, context).toBeGreaterThanOrEqual(400);
    return;
  }
  const body = JSON.parse(text) as {
    data?: unknown;
    errors?: { message?: unknown; extensions?: { code?: unknown } }[];
  };
  if (res.status >= 400) expect(body.errors?.length, context).toBeGreaterThan(0);
  for (const error of body.errors ?? []) {
    expect(typeof error.message, context).toBe("string");
    const code = error.extensions?.code;
    // Yoga's own refusals of an unreadable request (bad JSON, wrong method) carry no code,
    // only their 4xx status.
    if (code === undefined) expect(res.status, context).toBeGreaterThanOrEqual(400);
    else expect(codes.has(code as string), context).toBe(true);
  }
}

const post = (body: string, token?: string, contentType = "application/json"): RequestInit => ({
  method: "POST",
  headers: {
    "content-type": contentType,
    accept: "application/graphql-response+json, application/json",
    ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
  },
  body,
});

// Values: boundary strings (NUL, lone surrogates, right-to-left, long), numbers at and past
// every limit, and values of the wrong type.
const nasty = fc.constantFrom(
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\uD800",
  "x\uDFFFy",
  "\u202Eevil\u202C",
  "שלום עולם",
  "😀".repeat(200),
  "a".repeat(5_001),
  "ada@example.com",
  "ADA@EXAMPLE.COM",
  "not-an-email",
  "01890000-0000-7000-8000-000000000000",
  "'; DROP TABLE accounts; --",
  "\u0024{jndi:ldap://x}",
  "%s%n",
);
const text = fc.oneof(nasty, fc.string(), fc.string({ unit: "binary", maxLength: 40 }));
const number = fc.oneof(
  fc.constantFrom(0, -1, 1, 0.01, 0.1, 1.999, 100, 101, 1_000, 1_001, 1_000_000, 1_000_000.01),
  fc.constantFrom(2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, 1e308, -0),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const wrong = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.array(fc.oneof(text, number), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(text, number), { maxKeys: 3 }),
);
const maybe = <T>(value: fc.Arbitrary<T>) =>
  fc.oneof(
    { weight: 6, arbitrary: value },
    { weight: 1, arbitrary: wrong },
    fc.constant(undefined),
  );
const productId = () => fc.oneof(fc.constantFrom(...shop.products.map((p) => p.id)), text);
const accountId = () =>
  fc.oneof(fc.constantFrom(...[shop.ada, shop.bob].map((c: Customer) => c.id)), text);
/** An input object: its fields generated, some left out, maybe an unknown one added. */
const input = (fields: Record<string, fc.Arbitrary<unknown>>) =>
  fc
    .tuple(fc.record(fields, { requiredKeys: [] }), fc.option(fc.tuple(fc.string(), text)))
    .map(([value, extra]) => (extra ? { ...value, [extra[0]]: extra[1] } : value));
const pagination = () => maybe(input({ skip: maybe(number), take: maybe(number) }));

/** Every operation of the SDL, with variables generated for it. */
const operations = (): fc.Arbitrary<{ query: string; variables: Record<string, unknown> }>[] => [
  fc.record({
    query: fc.constant(
      "query ($p: PaginationInput, $q: String, $id: ID) { products(pagination: $p, query: $q, id: $id) { id name description price stock createdAt } }",
    ),
    variables: fc.record({ p: pagination(), q: maybe(text), id: maybe(productId()) }),
  }),
  fc.record({
    query: fc.constant(
      "query ($p: PaginationInput, $id: ID) { accounts(pagination: $p, id: $id) { id name email role createdAt orders { id totalPrice products { id name quantity price product { id stock } } } } }",
    ),
    variables: fc.record({ p: pagination(), id: maybe(accountId()) }),
  }),
  fc.record({
    query: fc.constant("{ me { id name email role orders { id totalPrice account { id } } } }"),
    variables: fc.constant({}),
  }),
  fc.record({
    query: fc.constant(
      "mutation ($a: AccountInput!) { createAccount(account: $a) { id name email role } }",
    ),
    variables: fc.record({
      a: maybe(input({ name: maybe(text), email: maybe(text), password: maybe(text) })),
    }),
  }),
  fc.record({
    query: fc.constant(
      "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token expiresAt account { id } } }",
    ),
    variables: fc.record({ e: maybe(text), p: maybe(text) }),
  }),
  fc.record({
    query: fc.constant(
      "mutation ($id: ID!, $patch: AccountPatch!) { updateAccount(id: $id, patch: $patch) { id name } }",
    ),
    variables: fc.record({
      id: maybe(accountId()),
      patch: maybe(
        input({ name: maybe(text), password: maybe(text), currentPassword: maybe(text) }),
      ),
    }),
  }),
  fc.record({
    query: fc.constant(
      "mutation ($p: ProductInput!) { createProduct(product: $p) { id price stock } }",
    ),
    variables: fc.record({
      p: maybe(
        input({
          name: maybe(text),
          description: maybe(text),
          price: maybe(number),
          stock: maybe(number),
        }),
      ),
    }),
  }),
  fc.record({
    query: fc.constant(
      "mutation ($id: ID!, $patch: ProductPatch!) { updateProduct(id: $id, patch: $patch) { id price stock } }",
    ),
    variables: fc.record({
      id: maybe(productId()),
      patch: maybe(
        input({
          name: maybe(text),
          description: maybe(text),
          price: maybe(number),
          stock: maybe(number),
        }),
      ),
    }),
  }),
  fc.record({
    query: fc.constant(
      "mutation ($o: OrderInput!) { createOrder(order: $o) { id totalPrice products { id quantity price } } }",
    ),
    variables: fc.record({
      o: maybe(
        input({
          accountId: maybe(accountId()),
          idempotencyKey: maybe(text),
          products: maybe(
            fc.array(maybe(input({ id: maybe(productId()), quantity: maybe(number) })), {
              maxLength: 120,
            }),
          ),
        }),
      ),
    }),
  }),
];

// Documents from a small grammar: real and unknown fields, aliases, arguments of every kind,
// fragments and inline fragments, directives, deep and wide.
const fieldNames = fc.constantFrom(
  "products",
  "accounts",
  "me",
  "id",
  "name",
  "orders",
  "account",
  "product",
  "price",
  "__typename",
  "__schema",
  "nope",
);
const literal: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    text.map((s) => JSON.stringify(s)),
    number.map((n) => String(n)),
    fc.constantFrom("true", "null", "CUSTOMER", "$v"),
    fc.array(tie("value"), { maxLength: 3 }).map((items) => `[${items.join(", ")}]`),
    fc
      .array(fc.tuple(fc.constantFrom("skip", "take", "x"), tie("value")), { maxLength: 3 })
      .map((fields) => `{ ${fields.map(([k, v]) => `${k}: ${v}`).join(", ")} }`),
  ),
})).value;
const selection: fc.Arbitrary<string> = fc.letrec<{ set: string; one: string }>((tie) => ({
  set: fc.array(tie("one"), { minLength: 1, maxLength: 6 }).map((s) => `{ ${s.join(" ")} }`),
  one: fc.oneof(
    { depthSize: "small" },
    fieldNames,
    fc.tuple(fc.constantFrom("a", "b", "x"), fieldNames).map(([alias, f]) => `${alias}: ${f}`),
    fc
      .tuple(fieldNames, fc.constantFrom("pagination", "id", "query", "take"), literal)
      .map(([f, arg, v]) => `${f}(${arg}: ${v})`),
    fc.tuple(fieldNames, tie("set")).map(([f, set]) => `${f} ${set}`),
    fc.constantFrom("...F", "...G", "... on Query { me { id } }", "id @include(if: $v)"),
  ),
})).set;
const document = fc
  .tuple(
    fc.constantFrom("query", "mutation", "query ($v: Boolean)", "subscription", ""),
    selection,
    fc.option(selection),
    fc.nat({ max: 40 }),
  )
  .map(([head, set, fragment, repeat]) => {
    const body = repeat > 35 ? `{ ${"products { id } ".repeat(repeat * 10)}}` : set;
    const fragments = fragment ? ` fragment F on Query ${fragment}` : "";
    return `${head} ${body}${fragments}`;
  });

// GraphQL requests whose parameters may be any JSON: `query` a string, `operationName` a string
// or null, `variables` and `extensions` maps or null, anything else a 400 whatever the client
// accepts (the fuzzer's `{"query": 5}` was a 200 INTERNAL_SERVER_ERROR).
const anyJson = fc.jsonValue({ maxDepth: 2 });
const isMap = (value: unknown) => typeof value === "object" && !Array.isArray(value);
const shapedRequest = fc
  .tuple(
    fc.record(
      {
        query: fc.oneof(document, anyJson),
        operationName: fc.oneof(fc.constantFrom("F", "Q"), text, anyJson),
        variables: fc.oneof(fc.dictionary(fc.string(), literal), anyJson),
        extensions: anyJson,
      },
      { requiredKeys: [] },
    ),
    fc.constantFrom(
      "application/json",
      "application/graphql-response+json",
      "application/graphql-response+json, application/json",
      "*/*",
    ),
  )
  .map(([params, accept]): Sent => {
    const { query, operationName, variables, extensions } = params as Record<string, unknown>;
    const wellFormed =
      (query == null || typeof query === "string") &&
      (operationName == null || typeof operationName === "string") &&
      (variables === undefined || isMap(variables)) &&
      (extensions === undefined || isMap(extensions));
    const body = JSON.stringify(params);
    return {
      label: `accept ${accept}: ${body.slice(0, 200)}`,
      init: {
        method: "POST",
        headers: { "content-type": "application/json", accept },
        body,
      },
      ...(wellFormed ? {} : { status: 400 }),
    };
  });

/** `arbitrary` is made when the test runs: some values come from the data seeded first. */
const property = (name: string, arbitrary: () => fc.Arbitrary<Sent>) =>
  it(name, async () => {
    await fc.assert(fc.asyncProperty(arbitrary(), answerIsProper), { seed, numRuns: runs });
  }, 120_000);

describe("generated requests never get a 5xx, an internal error or a stack", () => {
  property("every operation of the SDL with generated variables", () =>
    fc.tuple(fc.oneof(...operations()), fc.nat()).map(([{ query, variables }, i]) => ({
      label: `${query.slice(0, 40)} ${JSON.stringify(variables).slice(0, 200)}`,
      init: post(JSON.stringify({ query, variables }), tokens[i % tokens.length]),
    })),
  );

  property("generated documents", () =>
    fc
      .tuple(document, fc.nat(), fc.option(fc.dictionary(fc.string(), literal)))
      .map(([query, i, variables]) => ({
        label: query.slice(0, 200),
        init: post(JSON.stringify({ query, variables }), tokens[i % tokens.length]),
      })),
  );

  property("raw bodies, content types, parameters of every JSON type and GET parameters", () =>
    fc.oneof(
      shapedRequest,
      fc
        .tuple(
          fc.oneof(text, fc.json(), document),
          fc.constantFrom(
            "application/json",
            "application/graphql",
            "text/plain",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded",
          ),
        )
        .map(([body, type]) => ({
          label: `${type}: ${body.slice(0, 200)}`,
          init: post(body, undefined, type),
        })),
      fc
        .tuple(
          fc.oneof(document, text),
          fc.oneof(text, fc.json(), fc.constantFrom("{", "[", "null", "[]")),
          fc.oneof(text, fc.json(), fc.constantFrom("{", "[", "null")),
        )
        .map(([query, variables, extensions]) => {
          const params = new URLSearchParams({ query, variables, extensions });
          return {
            label: `GET ${params.toString().slice(0, 200)}`,
            url: `http://gateway.test/graphql?${params}`,
            init: { headers: { accept: "application/graphql-response+json" } },
          };
        }),
    ),
  );

  it("leaves the services serving, their data consistent", async () => {
    if (tolerated > 0) {
      console.log(
        `${tolerated} INTERNAL_SERVER_ERROR answers to strings with control characters tolerated (issue 9 item 13, the services')`,
      );
    }
    expect((await t.gw.gateway.fetch("http://gateway.test/healthz")).status).toBe(200);
    const res = await t.gw.gql<{
      products: { stock: number }[];
      accounts: {
        email: string;
        orders: { totalPrice: number; products: { price: number; quantity: number }[] }[];
      }[];
    }>(
      `{ products(pagination: { take: 100 }) { stock } accounts(pagination: { take: 100 }) { email orders { totalPrice products { price quantity } } } }`,
      { token: t.adminToken },
    );
    expect(res.errors).toBeUndefined();
    for (const product of res.data?.products ?? []) expect(product.stock).toBeGreaterThanOrEqual(0);
    const emails = res.data?.accounts.map((a) => a.email) ?? [];
    expect(new Set(emails).size).toBe(emails.length);
    for (const order of res.data?.accounts.flatMap((a) => a.orders) ?? []) {
      const cents = order.products.reduce(
        (sum, p) => sum + Math.round(p.price * 100) * p.quantity,
        0,
      );
      expect(Math.round(order.totalPrice * 100)).toBe(cents);
    }
  });
});
