// The storefront forwarding the services: real upstream servers on port 0 stand in for the
// three services, and the page's calls must reach them intact, and only them.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../platform/testing.js";
import { maxRequestBytes } from "./proxy.js";
import { type StorefrontServer, startStorefront } from "./server.js";

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** An upstream that records each request and answers with what it was asked, Connect-style. */
async function upstream(name: string) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      res.writeHead(200, { "content-type": "application/json", "x-upstream": name });
      res.end(JSON.stringify({ from: name, echo: body }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { seen, url, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

describe("the storefront forwarding the services", () => {
  let parent: string;
  let server: StorefrontServer;
  let down: StorefrontServer;
  const upstreams: Awaited<ReturnType<typeof upstream>>[] = [];

  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), "bazaar-web-proxy-"));
    await mkdir(join(parent, "build"));
    await writeFile(join(parent, "build", "index.html"), "<!doctype html><title>shop</title>");
    upstreams.push(await upstream("account"), await upstream("catalog"), await upstream("order"));
    const [account, catalog, order] = upstreams.map((u) => u.url) as [string, string, string];
    const dir = join(parent, "build");
    const options = { dir, port: 0, host: "127.0.0.1", forward: true };
    server = await startStorefront({
      ...options,
      services: { accountUrl: account, catalogUrl: catalog, orderUrl: order },
    });
    // Nothing listens on a free port: every service of this one is down.
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    down = await startStorefront({
      ...options,
      services: { accountUrl: nowhere, catalogUrl: nowhere, orderUrl: nowhere },
    });
  });

  afterAll(async () => {
    await Promise.all([server.stop(), down.stop(), ...upstreams.map((u) => u.stop())]);
    await rm(parent, { recursive: true, force: true });
  });

  it("tells the page its own origin for every service, and lets it call only that", async () => {
    const response = await fetch(`${server.url}/config.json`);
    expect(await response.json()).toEqual({ accountUrl: "/", catalogUrl: "/", orderUrl: "/" });
    expect(response.headers.get("content-security-policy")).toContain("connect-src 'self';");
  });

  it("passes a Connect unary POST through with its status, headers and body", async () => {
    const [, catalog] = upstreams;
    const path = "/bazaar.catalog.v1.CatalogService/ListProducts";
    const response = await fetch(`${server.url}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "connect-protocol-version": "1",
        authorization: "Bearer t0ken",
      },
      body: '{"pageSize":2}',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-upstream")).toBe("catalog");
    expect(await response.json()).toEqual({ from: "catalog", echo: '{"pageSize":2}' });
    const seen = catalog?.seen.at(-1);
    expect(seen).toMatchObject({ method: "POST", url: path, body: '{"pageSize":2}' });
    expect(seen?.headers).toMatchObject({
      "content-type": "application/json",
      "connect-protocol-version": "1",
      authorization: "Bearer t0ken",
      host: new URL(catalog?.url ?? "").host,
    });
  });

  it("passes a Connect GET through with its query intact, each service to its own upstream", async () => {
    const [account, , order] = upstreams;
    const path = "/bazaar.order.v1.OrderService/GetOrder?connect=v1&encoding=json&message=%7B%7D";
    const response = await fetch(`${server.url}${path}`);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-upstream")).toBe("order");
    expect(order?.seen.at(-1)).toMatchObject({ method: "GET", url: path });
    await fetch(`${server.url}/bazaar.account.v1.AccountService/Login`, { method: "POST" });
    expect(account?.seen.at(-1)?.url).toBe("/bazaar.account.v1.AccountService/Login");
  });

  it("appends the client's address to x-forwarded-for", async () => {
    const [account] = upstreams;
    await fetch(`${server.url}/bazaar.account.v1.AccountService/GetAccount`, {
      method: "POST",
      headers: { "x-forwarded-for": "203.0.113.7" },
      body: "{}",
    });
    expect(account?.seen.at(-1)?.headers["x-forwarded-for"]).toMatch(
      /^203\.0\.113\.7, (::ffff:)?127\.0\.0\.1$/,
    );
    await fetch(`${server.url}/bazaar.account.v1.AccountService/GetAccount`, { method: "POST" });
    expect(account?.seen.at(-1)?.headers["x-forwarded-for"]).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
  });

  it("forwards nothing outside the three services' paths", async () => {
    const before = upstreams.map((u) => u.seen.length);
    for (const path of [
      "/bazaar.catalog.v1.CatalogService",
      "/bazaar.catalog.v1.AdminService/X",
      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      "/metrics",
    ]) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(404);
      expect(await response.text(), path).toBe("not found\n");
    }
    expect(upstreams.map((u) => u.seen.length)).toEqual(before);
    const put = await fetch(`${server.url}/bazaar.catalog.v1.CatalogService/ListProducts`, {
      method: "PUT",
    });
    expect(put.status).toBe(405);
    expect(upstreams.map((u) => u.seen.length)).toEqual(before);
  });

  it("refuses a body over the limit without passing it on", async () => {
    const [, catalog] = upstreams;
    const before = catalog?.seen.length;
    const response = await fetch(`${server.url}/bazaar.catalog.v1.CatalogService/CreateProduct`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "x".repeat(maxRequestBytes + 1),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      code: "resource_exhausted",
      message: `request body over ${maxRequestBytes} bytes`,
    });
    expect(catalog?.seen.length).toBe(before);
  });

  it("answers 503 unavailable, as Connect JSON and without internals, when a service is down", async () => {
    const response = await fetch(`${down.url}/bazaar.order.v1.OrderService/CreateOrder`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(response.status).toBe(503);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.json()).toEqual({
      code: "unavailable",
      message: "the order service is unavailable, try again",
    });
    // And it keeps serving.
    expect((await fetch(`${down.url}/readyz`)).status).toBe(200);
  });
});
