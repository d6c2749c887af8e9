// The storefront's static server: the page, its config, caching, and nothing outside its folder.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StorefrontServer, startStorefront } from "./server.js";

describe("storefront server", () => {
  let parent: string;
  let server: StorefrontServer;
  const page = {
    accountUrl: "http://localhost:1",
    catalogUrl: "http://localhost:2",
    orderUrl: "https://shop.example/order",
  };

  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), "bazaar-web-"));
    const dir = join(parent, "build");
    await mkdir(join(dir, "assets"), { recursive: true });
    await writeFile(join(dir, "index.html"), "<!doctype html><title>shop</title>");
    await writeFile(join(dir, "assets", "app-1234.js"), "console.log(1)");
    // A sibling whose name starts like the build folder's must stay out of reach too.
    await mkdir(join(parent, "build-secret"));
    await writeFile(join(parent, "build-secret", "x.txt"), "secret");
    server = await startStorefront({ dir, services: page, port: 0, host: "127.0.0.1" });
  });

  afterAll(async () => {
    await server.stop();
    await rm(parent, { recursive: true, force: true });
  });

  it("serves the page uncached, and hashed assets cached for good", async () => {
    const index = await fetch(`${server.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(index.headers.get("cache-control")).toBe("no-cache");
    expect(await index.text()).toContain("<title>shop</title>");
    const asset = await fetch(`${server.url}/assets/app-1234.js`);
    expect(asset.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(asset.headers.get("cache-control")).toContain("immutable");
  });

  it("tells the page where the services are, and lets it call only them", async () => {
    const response = await fetch(`${server.url}/config.json`);
    expect(await response.json()).toEqual(page);
    expect(response.headers.get("content-security-policy")).toContain(
      "connect-src 'self' http://localhost:1 http://localhost:2 https://shop.example;",
    );
  });

  it("answers health checks", async () => {
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it("refuses paths outside its folder, missing files, bad escapes and other methods", async () => {
    for (const path of ["/%2e%2e/build-secret/x.txt", "/..%2fbuild-secret/x.txt", "/nope.js"]) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, path).toBe(404);
      expect(await response.text()).toBe("not found\n");
    }
    expect((await fetch(`${server.url}/%E0%A4%A`)).status).toBe(400);
    expect((await fetch(`${server.url}/`, { method: "POST" })).status).toBe(405);
  });
});
