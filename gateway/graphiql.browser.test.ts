// GraphiQL in a real browser (Debian's chromium through playwright-core): it opens, loads the
// schema (its Docs pane lists the fields), runs a query against the real services and shows
// the result, and no request leaves localhost; a subscription pasted in (docs/live.md's
// example) shows stock changes as they happen.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haveChromium, launchChromium } from "../platform/testing-browser.js";
import type { RunningGateway } from "./main.js";
import { adminEmail, adminPassword, listeningGateway, type Stack, startStack } from "./testing.js";

const available = haveChromium("the GraphiQL browser test");

describe.skipIf(!available)("GraphiQL in a browser", () => {
  let stack: Stack;
  let gateway: RunningGateway;
  let browser: Browser;
  let post: (query: string, token?: string) => Promise<{ data: Record<string, unknown> }>;
  let adminToken: string | undefined;
  let lampId: string;

  beforeAll(async () => {
    stack = await startStack();
    gateway = await listeningGateway(stack.urls);
    post = async (query: string, token?: string) => {
      const res = await fetch(`${gateway.url}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query }),
      });
      return (await res.json()) as { data: Record<string, unknown> };
    };
    const login = await post(
      `mutation { login(email: "${adminEmail}", password: "${adminPassword}") { token } }`,
    );
    adminToken = (login.data.login as { token: string }).token;
    const created = await post(
      `mutation { createProduct(product: { name: "Walnut desk lamp", description: "Warm light", price: 89.5, stock: 3 }) { id } }`,
      adminToken,
    );
    lampId = (created.data.createProduct as { id: string }).id;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
    await stack?.stop();
  });

  it("opens on /, runs the default query and shows the result, all from localhost", async () => {
    const context = await browser.newContext();
    const outside: string[] = [];
    const local: string[] = [];
    // Every request of the page and its workers; anything not local is recorded and refused.
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if (["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) {
        local.push(url.pathname);
        return route.continue();
      }
      outside.push(url.href);
      return route.abort();
    });
    context.on("request", (request) => {
      const url = new URL(request.url());
      if (!["http:", "https:", "ws:", "wss:"].includes(url.protocol)) return;
      if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) outside.push(url.href);
    });
    const page = await context.newPage();
    await page.goto(gateway.url, { waitUntil: "load", timeout: 30_000 });
    expect(new URL(page.url()).pathname).toBe("/graphql");
    const run = page.locator(".graphiql-execute-button");
    await run.waitFor({ state: "visible", timeout: 30_000 });
    // The default document (Products, Login, Order, MyOrders) is in the editor; run Products.
    await run.click();
    await page.getByRole("menuitem", { name: "Products" }).click({ timeout: 10_000 });
    const response = page.locator(".graphiql-response");
    // Monaco renders spaces as no-break spaces.
    const shown = async () => ((await response.textContent()) ?? "").replace(/\u00a0/g, " ");
    await expect.poll(shown, { timeout: 20_000 }).toContain("Walnut desk lamp");
    const text = await shown();
    expect(text).toContain("89.5");
    expect(local).toContain("/graphql");
    expect(outside).toEqual([]);
    await context.close();
  });

  it("shows a subscription's events live (docs/live.md's example)", async () => {
    const context = await browser.newContext();
    const document = `subscription {
  stockChanged(productIds: ["${lampId}"]) {
    productId
    stock
    product {
      name
      price
    }
  }
}`;
    // The editor's document as if the user had pasted it: GraphiQL keeps it in localStorage.
    await context.addInitScript((text) => localStorage.setItem("graphiql:query", text), document);
    const page = await context.newPage();
    await page.goto(`${gateway.url}/graphql`, { waitUntil: "load", timeout: 30_000 });
    const run = page.locator(".graphiql-execute-button");
    await run.waitFor({ state: "visible", timeout: 30_000 });
    await run.click();
    const response = page.locator(".graphiql-response");
    const shown = async () =>
      ((await response.textContent()) ?? "").replace(/\u00a0/g, " ").replace(/\s+/g, " ");
    await expect.poll(shown, { timeout: 20_000 }).toContain('"stock": 3');
    expect(await shown()).toContain("Walnut desk lamp");
    // Someone changes the stock: the pane shows it, with nothing run again.
    await post(
      `mutation { updateProduct(id: "${lampId}", patch: { stock: 11 }) { id } }`,
      adminToken,
    );
    await expect.poll(shown, { timeout: 20_000 }).toContain('"stock": 11');
    await context.close();
  });

  it("loads the schema with no error: the Docs pane lists Query's fields", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    // GraphiQL's own schema fetch, graphql-js's full introspection query.
    const schemaFetch = page.waitForResponse(
      (response) =>
        response.url().endsWith("/graphql") &&
        (response.request().postData() ?? "").includes("IntrospectionQuery"),
      { timeout: 30_000 },
    );
    await page.goto(`${gateway.url}/graphql`, { waitUntil: "load", timeout: 30_000 });
    const answer = await schemaFetch;
    expect(answer.status()).toBe(200);
    const body = (await answer.json()) as { data?: unknown; errors?: unknown };
    expect(body.errors).toBeUndefined();
    await page.getByRole("button", { name: "Show Documentation Explorer" }).click();
    const docs = page.locator(".graphiql-doc-explorer");
    await docs.getByText("Root Types").waitFor({ timeout: 10_000 });
    await docs.getByRole("link", { name: "Query" }).first().click();
    const fields = docs.locator(".graphiql-doc-explorer-field-name");
    await expect
      .poll(() => fields.allTextContents(), { timeout: 10_000 })
      .toEqual(expect.arrayContaining(["products", "accounts", "me"]));
    // Nothing in the result pane: the schema fetch's refusal used to show there.
    expect((await page.locator(".graphiql-response").textContent()) ?? "").not.toMatch(
      /too expensive|error/i,
    );
    await context.close();
  });
});
