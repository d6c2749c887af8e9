// The gateway's HTTP surface (probes, metrics, GraphiQL, request ids) and the process that
// serves it on a real port.
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Customer,
  type GatewayTestbed,
  listeningGateway,
  openGatewayTestbed,
  type Stack,
  seedShop,
  type TestGateway,
} from "./testing.js";

let t: GatewayTestbed;
let gw: TestGateway;
let stack: Stack;
let ada: Customer;

beforeAll(async () => {
  t = await openGatewayTestbed();
  ({ gw, stack } = t);
  ({ ada } = await seedShop(t));
});

afterAll(async () => {
  await t?.close();
});

describe("HTTP surface", () => {
  const get = (path: string, headers: Record<string, string> = {}) =>
    gw.gateway.fetch(`http://gateway.test${path}`, { headers });

  it("redirects / to /graphql", async () => {
    const res = await get("/");
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/graphql");
  });

  it("answers /healthz, and /readyz once all three services are ready", async () => {
    expect(await (await get("/healthz")).json()).toEqual({ status: "alive" });
    const ready = await get("/readyz");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: "ready",
      services: { account: "ready", catalog: "ready", order: "ready" },
    });
  });

  it("serves GraphiQL with everything inline, compressed and cacheable", async () => {
    const res = await get("/graphql", { accept: "text/html", "accept-encoding": "br, gzip" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.headers.get("content-encoding")).toBe("br");
    // Without Accept-Encoding any coding is acceptable: the page still comes gzipped.
    const plain = await get("/graphql", { accept: "text/html" });
    expect(plain.headers.get("content-encoding")).toBe("gzip");
    const html = gunzipSync(new Uint8Array(await plain.arrayBuffer())).toString("utf8");
    expect(html).toContain("YogaGraphiQL.renderYogaGraphiQL");
    expect(html).toContain("query Products");
    // No script, stylesheet or worker is loaded from elsewhere.
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet[^>]+href="?https?:|unpkg\.com/);
    expect(Number(res.headers.get("content-length"))).toBeLessThan(html.length / 3);
    const etag = plain.headers.get("etag") as string;
    const again = await get("/graphql", { accept: "text/html", "if-none-match": etag });
    expect(again.status).toBe(304);
  });

  it("passes the request id and the caller's Authorization to the services, and echoes the id", async () => {
    gw.rpcs.length = 0;
    const res = await gw.gql(`{ me { id orders { id } } }`, {
      token: ada.token,
      headers: { "x-request-id": "test-request-42" },
    });
    expect(res.headers.get("x-request-id")).toBe("test-request-42");
    expect(gw.rpcs.length).toBe(2);
    for (const rpc of gw.rpcs) {
      expect(rpc.headers.get("x-request-id")).toBe("test-request-42");
      expect(rpc.headers.get("authorization")).toBe(`Bearer ${ada.token}`);
    }
    const generated = await gw.gql(`{ products { id } }`, {
      headers: { "x-request-id": "bad id!" },
    });
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("exports Prometheus metrics: requests, errors by code, latency", async () => {
    await gw.gql(`{ accounts { id } }`); // UNAUTHENTICATED
    await gw.gql(`{ products(pagination: { take: 101 }) { id } }`); // BAD_USER_INPUT
    await gw.gql(`mutation { login(email: "nobody@example.com", password: "x") { token } }`);
    const text = await (await get("/metrics")).text();
    expect(text).toMatch(
      /gateway_http_requests_total\{route="\/graphql",method="POST",status="200",app="gateway"\} \d+/,
    );
    expect(text).toMatch(/graphql_errors_total\{code="UNAUTHENTICATED",app="gateway"\} \d+/);
    expect(text).toMatch(/graphql_errors_total\{code="BAD_USER_INPUT",app="gateway"\} \d+/);
    expect(text).toContain("gateway_http_request_duration_seconds_bucket");
    expect(text).toMatch(/graphql_operations_total\{type="mutation",app="gateway"\} \d+/);
  });
});

describe("the process", () => {
  it("serves over HTTP, counts backend RPCs in /metrics, and stops gracefully", async () => {
    const running = await listeningGateway(stack.urls);
    try {
      const res = await fetch(`${running.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: `{ products(query: "notebook") { name price } }` }),
      });
      expect(await res.json()).toEqual({ data: { products: [{ name: "Notebook", price: 4.5 }] } });
      const metrics = await (await fetch(`${running.url}/metrics`)).text();
      expect(metrics).toMatch(
        /gateway_backend_rpc_total\{service="bazaar.catalog.v1.CatalogService",method="ListProducts",code="OK",app="gateway"\} 1/,
      );
      const redirect = await fetch(running.url, { redirect: "manual" });
      expect(redirect.status).toBe(302);
    } finally {
      await running.stop();
    }
    await expect(fetch(`${running.url}/healthz`)).rejects.toThrow();
  });
});
