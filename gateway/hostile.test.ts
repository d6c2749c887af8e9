// Hostile requests against a real gateway on port 0 (issue 9: B, D, 1–5): each is refused with a
// 4xx naming what is wrong, within 1 s, never a 5xx or a stack, and /healthz answers meanwhile.
import net from "node:net";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "./main.js";
import { type GatewayTestbed, listeningGateway, openGatewayTestbed } from "./testing.js";

let t: GatewayTestbed;
let running: RunningGateway;
let production: RunningGateway;

async function start(env: Record<string, string> = {}): Promise<RunningGateway> {
  return listeningGateway(t.stack.urls, env);
}

beforeAll(async () => {
  t = await openGatewayTestbed();
  running = await start();
  production = await start({ NODE_ENV: "production" });
});

afterAll(async () => {
  await running?.stop();
  await production?.stop();
  await t?.close();
});

interface Answer {
  status: number;
  text: string;
  ms: number;
}

/**
 * Sends `request` and, while it is in flight, GET /healthz: both must answer within 1 s, the
 * probe with 200, so the refusal did not hold the event loop. Prints the times.
 */
async function refusedQuickly(
  label: string,
  request: () => Promise<Response>,
  base = running.url,
): Promise<Answer> {
  const started = performance.now();
  const answer = request().then(async (res) => ({
    status: res.status,
    text: await res.text(),
    ms: performance.now() - started,
  }));
  await new Promise((resolve) => setTimeout(resolve, 5));
  const probeStarted = performance.now();
  const probe = await fetch(`${base}/healthz`);
  const probeMs = performance.now() - probeStarted;
  const result = await answer;
  console.log(
    `${label}: ${result.status} in ${result.ms.toFixed(0)} ms; /healthz meanwhile ${probe.status} in ${probeMs.toFixed(0)} ms`,
  );
  expect(probe.status).toBe(200);
  expect(probeMs, `${label}: /healthz waited`).toBeLessThan(1_000);
  expect(result.ms, `${label}: the refusal took`).toBeLessThan(1_000);
  expect(result.status, `${label}: ${result.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(result.status, `${label}: ${result.text.slice(0, 300)}`).toBeLessThan(500);
  expectNoInternals(result.text);
  return result;
}

function expectNoInternals(text: string): void {
  expect(text).not.toMatch(/node_modules|\n\s+at |INTERNAL_SERVER_ERROR|stack/);
}

const post =
  (body: unknown, headers: Record<string, string> = {}, base = running.url) =>
  () =>
    fetch(`${base}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/graphql-response+json",
        ...headers,
      },
      // Already JSON text where JSON.stringify could not nest that deep.
      body: typeof body === "string" ? body : JSON.stringify(body),
    });

const message = (answer: Answer) =>
  (JSON.parse(answer.text) as { errors: { message: string }[] }).errors[0]?.message ?? "";

/** A raw HTTP/1.1 exchange, for request lines fetch() will not write. */
function raw(request: string): Promise<string> {
  const port = Number(new URL(running.url).port);
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(request));
    let data = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => {
      data += chunk;
    });
    socket.on("end", () => resolve(data));
    socket.on("error", reject);
    setTimeout(() => socket.end(), 2_000).unref();
  });
}

describe("B: an absolute-form request line", () => {
  it("is served like its path, not a 500 with a stack", async () => {
    const body = JSON.stringify({ query: "{ __typename }" });
    const port = new URL(running.url).port;
    const answer = await raw(
      `POST http://evil.example/graphql HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain('{"data":{"__typename":"Query"}}');
    expectNoInternals(answer);
  });
});

describe("D: deeply nested input is a 4xx, not a stack overflow", () => {
  const nested = (depth: number, open: string, close: string, inner: string) =>
    `${open.repeat(depth)}${inner}${close.repeat(depth)}`;

  for (const scale of [1, 10]) {
    it(`at ${scale}× the fuzzer's depths`, async () => {
      const pagination = nested(3_000 * scale, "{skip:", "}", "1");
      const literal = await refusedQuickly(
        `pagination object ${3_000 * scale} deep`,
        post({ query: `{ products(pagination: ${pagination}) { id } }` }),
      );
      expect(message(literal)).toMatch(/brackets nest deeper than the limit of 64/);
      const variable = await refusedQuickly(
        `pagination variable ${3_000 * scale} deep`,
        post(
          `{"query":"query ($p: PaginationInput) { products(pagination: $p) { id } }","variables":{"p":${nested(3_000 * scale, '{"skip":', "}", "1")}}}`,
        ),
      );
      expect(message(variable)).toMatch(/Variable "\$p" got invalid value .* Int cannot represent/);
      const list = await refusedQuickly(
        `list literal ${10_000 * scale} deep`,
        post({ query: `{ products(id: ${nested(10_000 * scale, "[", "]", "1")}) { id } }` }),
      );
      expect(message(list)).toMatch(/brackets nest deeper/);
      const selections = await refusedQuickly(
        `selections ${20_000 * scale} deep`,
        post({ query: nested(20_000 * scale, "{a", "}", "") }),
      );
      expect(message(selections)).toMatch(/brackets nest deeper|Token limit/);
    });
  }

  it("GET /graphql with a broken variables or extensions parameter", async () => {
    for (const parameter of ["variables=%7B", "extensions=%5B"]) {
      const answer = await refusedQuickly(parameter, () =>
        fetch(`${running.url}/graphql?query=%7B__typename%7D&${parameter}`, {
          headers: { accept: "application/graphql-response+json" },
        }),
      );
      expect(answer.status).toBe(400);
      expect(message(answer)).toMatch(/variables|extensions/);
    }
  });
});

describe("1: fragment fan-out", () => {
  const fanOut = (levels: number) => {
    const fragments = Array.from(
      { length: levels },
      (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`,
    );
    return `query { ...F0 } ${fragments.join(" ")} fragment F${levels} on Query { products(pagination: { take: 1 }) { id } }`;
  };

  it("is costed once per fragment: refused at once, at 1× and 10× the levels", async () => {
    for (const levels of [22, 220]) {
      const answer = await refusedQuickly(
        `fan-out of ${levels} levels (${fanOut(levels).length} bytes)`,
        post({ query: fanOut(levels) }),
      );
      expect(answer.status).toBe(400);
      expect(message(answer)).toMatch(/limit/i);
    }
  });
});

describe("2: repeated fields and aliases", () => {
  const shapes: [string, string, Record<string, string>?][] = [
    [
      "id × 50,000 in products(take:100)",
      `{ products(pagination: { take: 100 }) { ${"id ".repeat(50_000)}} }`,
    ],
    ["x: products { id } × 30,000", `{ ${"x: products { id } ".repeat(30_000)}}`],
    ["a: __typename × 70,000", `{ ${"a: __typename ".repeat(70_000)}}`],
    [
      "m: me { id } × 55,000 with a bad token",
      `{ ${Array.from({ length: 55_000 }, (_, i) => `m${i}: me { id }`).join(" ")} }`,
      { authorization: "Bearer not.a.token" },
    ],
    ["id × 300,000", `{ products { ${"id ".repeat(300_000)}} }`],
    // Under the token limit: the field-count and alias limits keep validation cheap.
    ["id × 1,500 in products", `{ products { ${"id ".repeat(1_500)}} }`],
    ["x: products { id } × 300", `{ ${"x: products { id } ".repeat(300)}}`],
  ];
  for (const [label, query, headers] of shapes) {
    it(`refuses ${label} at once`, async () => {
      expect(JSON.stringify({ query }).length).toBeLessThan(1024 * 1024);
      const answer = await refusedQuickly(label, post({ query }, headers));
      expect(answer.status).toBe(400);
      expect(message(answer)).toMatch(/limit/i);
    });
  }
});

describe("within the limits, validation stays cheap", () => {
  // The worst shapes for graphql-js's overlapping-fields rule that the limits still let through.
  const shapes: [string, string][] = [
    ["id × 299 in products", `{ products { ${"id ".repeat(299)}} }`],
    ["x: products { id } × 30", `{ ${"x: products { id } ".repeat(30)}}`],
    [
      "...F × 30 spreading 9 repeated fields",
      `{ products { ${"...F ".repeat(30)}} } fragment F on Product { ${"id ".repeat(9)}}`,
    ],
  ];
  for (const [label, query] of shapes) {
    it(`answers ${label} within 1 s`, async () => {
      const started = performance.now();
      const res = await post({ query })();
      const ms = performance.now() - started;
      console.log(`${label}: ${res.status} in ${ms.toFixed(0)} ms`);
      expect(res.status).toBe(200);
      expect(ms).toBeLessThan(1_000);
    });
  }
});

describe("3: __typename is not free", () => {
  it("5,000 and 50,000 aliased __typename in products(take:100) are refused in production", async () => {
    for (const n of [5_000, 50_000]) {
      const query = `{ products(pagination: { take: 100 }) { ${Array.from({ length: n }, (_, i) => `t${i}: __typename`).join(" ")} } }`;
      const answer = await refusedQuickly(
        `${n} aliased __typename`,
        post({ query }, {}, production.url),
        production.url,
      );
      expect(answer.status).toBe(400);
    }
  });
});

describe("4: root mutation fields per operation", () => {
  it("an operation may not alias createAccount many times", async () => {
    const mutations = Array.from(
      { length: 6 },
      (_, i) =>
        `a${i}: createAccount(account: { name: "Mallory", email: "m${i}@example.com", password: "long-enough" }) { id }`,
    );
    t.gw.rpcs.length = 0;
    const res = await t.gw.gql(`mutation { ${mutations.join(" ")} }`);
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.message).toMatch(/mutation.*limit is 5/);
    expect(t.gw.rpcs).toEqual([]);
    const viaFragment = await t.gw.gql(
      `mutation { ...M ...M } fragment M on Mutation { ${mutations.slice(0, 3).join(" ")} }`,
    );
    expect(viaFragment.status).toBe(400);
    expect(t.gw.rpcs).toEqual([]);
  });
});

describe("5: GraphiQL", () => {
  it("is not served in production, where introspection is off: a small, clear answer", async () => {
    const res = await fetch(`${production.url}/graphql`, {
      headers: { accept: "text/html", "accept-encoding": "identity" },
    });
    const text = await res.text();
    expect(res.status).toBe(404);
    expect(text.length).toBeLessThan(1_000);
    expect(text).toMatch(/GraphiQL is off/);
  });

  it("is never sent uncompressed: gzip without Accept-Encoding, 406 for identity only", async () => {
    const bare = await new Promise<{ status: number; encoding: string; bytes: Buffer }>(
      (resolve, reject) => {
        const port = Number(new URL(running.url).port);
        const socket = net.connect(port, "127.0.0.1", () =>
          socket.write(
            "GET /graphql HTTP/1.1\r\nHost: localhost\r\nAccept: text/html\r\nConnection: close\r\n\r\n",
          ),
        );
        const chunks: Buffer[] = [];
        socket.on("data", (chunk: Buffer) => chunks.push(chunk));
        socket.on("error", reject);
        socket.on("end", () => {
          const all = Buffer.concat(chunks);
          const split = all.indexOf("\r\n\r\n");
          const head = all.subarray(0, split).toString("latin1");
          resolve({
            status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1]),
            encoding: /content-encoding: (\S+)/i.exec(head)?.[1] ?? "",
            bytes: all.subarray(split + 4),
          });
        });
      },
    );
    expect(bare.status).toBe(200);
    expect(bare.encoding).toBe("gzip");
    expect(bare.bytes.length).toBeLessThan(3_000_000);
    expect(gunzipSync(bare.bytes).toString("utf8")).toContain("YogaGraphiQL.renderYogaGraphiQL");
    const identity = await fetch(`${running.url}/graphql`, {
      headers: { accept: "text/html", "accept-encoding": "identity" },
    });
    expect(identity.status).toBe(406);
    expect((await identity.text()).length).toBeLessThan(1_000);
  });
});
