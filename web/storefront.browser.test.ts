// The storefront end to end in Debian's Chromium, once with the page calling the services
// directly (development) and once through the storefront's forwarding (production): the three
// real services on free ports, the built page served as `npm start` serves it, and a shopper who searches, signs up (after a
// refused password), buys two products with one double-clicked "Place order", and finds the
// order with its exact total; the stock falling live when another shopper (a second browser
// context) orders, and an order shipped by an admin changing on the shopper's page, neither
// with a reload; then an out-of-stock product and a stopped order service, each explained on
// the page. No request may leave this machine, and when forwarding none may leave
// the storefront's origin. The direct run's last orders page is saved as
// web/screenshots/latest/storefront.png (ignored by git; web/screenshots/storefront.png is a committed copy).
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CatalogService } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { OrderService, OrderStatus } from "../gen/bazaar/order/v1/order_pb.js";
import type { TestAuthority } from "../platform/auth/auth-testing.js";
import { uuidv7 } from "../platform/data/ids.js";
import type { HostedService } from "../platform/host.js";
import { bearer, testAuthority, testDatabaseEnv } from "../platform/testing.js";
import { haveChromium, launchChromium } from "../platform/testing-browser.js";
import { loadAccountConfig } from "../services/account/config.js";
import { startAccountService } from "../services/account/main.js";
import { loadCatalogConfig } from "../services/catalog/config.js";
import { startCatalogService } from "../services/catalog/main.js";
import { loadOrderConfig } from "../services/order/config.js";
import { startOrderService } from "../services/order/main.js";
import { ensureBuilt } from "./build.js";
import { type StorefrontServer, startStorefront } from "./server.js";

const available = haveChromium("the storefront browser test");
const screenshot = new URL("./screenshots/latest/storefront.png", import.meta.url).pathname;
const cancelledShot = new URL("./screenshots/latest/storefront-cancelled.png", import.meta.url)
  .pathname;

// A live change waits for the outbox's safe horizon, which a long transaction of another suite
// on the same PostgreSQL can hold back: delayed, not lost.
const live = { timeout: 15_000 };

/** The URLs `page` requests from now until `stop()`. */
function askedFor(page: Page): { stop(): string[] } {
  const urls: string[] = [];
  const note = (request: { url(): string }) => urls.push(request.url());
  page.on("request", note);
  return {
    stop: () => {
      page.off("request", note);
      return urls;
    },
  };
}

describe.skipIf(!available).each([
  ["direct", false],
  ["proxy", true],
] as const)("the storefront in a browser, services %s", (mode, forward) => {
  let authority: TestAuthority;
  const services: HostedService<Record<string, unknown>>[] = [];
  let order: HostedService<Record<string, unknown>>;
  let catalog: Client<typeof CatalogService>;
  let storefront: StorefrontServer;
  let browser: Browser;
  let page: Page;
  const requests: string[] = [];
  const drops: (() => Promise<void>)[] = [];
  let admin: ReturnType<typeof bearer>;
  // A word no demo product contains, so the search finds exactly ours.
  const tag = Array.from(randomBytes(8), (b) => String.fromCharCode(97 + (b % 26))).join("");
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    const built = ensureBuilt();
    ({ authority } = testAuthority());
    const env = { LOG_LEVEL: "silent", NODE_ENV: "test", PORT: "0" };
    const databases = await Promise.all([testDatabaseEnv(), testDatabaseEnv(), testDatabaseEnv()]);
    drops.push(...databases.map((d) => d.drop));
    const [accountDb, catalogDb, orderDb] = databases.map((d) => d.env);
    const account = await startAccountService(
      loadAccountConfig({ ...env, ...accountDb, ...authority.env("account") }),
    );
    const catalogService = await startCatalogService(
      loadCatalogConfig({
        ...env,
        ...catalogDb,
        ...authority.env("catalog"),
        ACCOUNT_URL: account.server.url,
      }),
    );
    order = await startOrderService(
      loadOrderConfig({
        ...env,
        ...orderDb,
        ...authority.env("order"),
        ACCOUNT_URL: account.server.url,
        CATALOG_URL: catalogService.server.url,
        PEER_TIMEOUT_MS: "2000",
      }),
    );
    services.push(account, catalogService, order);

    catalog = createClient(
      CatalogService,
      createConnectTransport({ baseUrl: catalogService.server.url, httpVersion: "1.1" }),
    );
    admin = bearer((await authority.issueUserToken(uuidv7(), "admin", 600)).token);
    for (const [key, name, priceCents, stock] of [
      ["teapot", "Stoneware teapot", 2499n, 5],
      ["cups", "Tea cups", 745n, 10],
      ["kettle", "Copper kettle", 5900n, 1],
    ] as const) {
      const { product } = await catalog.createProduct(
        { name, description: `Kitchen ${tag}`, priceCents, stock },
        admin,
      );
      ids[key] = product?.id ?? "";
    }

    storefront = await startStorefront({
      dir: (await built).dir,
      port: 0,
      host: "127.0.0.1",
      forward,
      services: {
        accountUrl: account.server.url,
        catalogUrl: catalogService.server.url,
        orderUrl: order.server.url,
      },
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    page.on("request", (request) => requests.push(request.url()));
    page.on("pageerror", (error) => console.error("page error:", error));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await storefront?.stop();
    await Promise.allSettled(services.map((s) => s.stop()));
    await Promise.allSettled(drops.map((drop) => drop()));
  });

  it("searches, signs up, orders two products once and shows the exact total", async () => {
    await page.goto(storefront.url);
    await page.getByRole("searchbox", { name: "Search products" }).fill(tag);
    await page.getByRole("button", { name: "Search" }).click();
    await expect.poll(() => page.locator(".product h3").allTextContents()).toHaveLength(3);
    expect((await page.locator(".product h3").allTextContents()).sort()).toEqual([
      "Copper kettle",
      "Stoneware teapot",
      "Tea cups",
    ]);

    await page.getByRole("button", { name: "Add Stoneware teapot to basket" }).click();
    await page.getByRole("button", { name: "Add Tea cups to basket" }).click();
    await page.getByRole("button", { name: "Add Tea cups to basket" }).click();
    await page.getByRole("button", { name: "Basket (3)" }).click();
    await expect.poll(() => page.locator("tfoot .total").textContent()).toBe("$39.89");

    // Sign up, first with a password the account service refuses: the message sits under it.
    await page.getByRole("button", { name: "Sign in to order" }).click();
    const signUp = page.getByRole("form", { name: "Create an account" });
    await signUp.getByLabel("Name").fill("Ada Shopper");
    await signUp.getByLabel("Email").fill(`ada-${tag}@example.com`);
    await signUp.getByLabel("Password").fill("short");
    await signUp.getByRole("button", { name: "Sign up" }).click();
    const passwordError = signUp.locator(".field:has(input[name=password]) .field-error");
    await expect.poll(() => passwordError.textContent()).toBe("Must be 8 to 128 characters.");
    expect(await signUp.locator("input[name=password]").getAttribute("aria-invalid")).toBe("true");
    expect(await signUp.locator(".field:has(input[name=email]) .field-error").count()).toBe(0);
    await signUp.getByLabel("Password").fill("a-long-password");
    await signUp.getByRole("button", { name: "Sign up" }).click();

    // Back in the basket, signed in. A double click places one order.
    const place = page.getByRole("button", { name: "Place order" });
    await place.dblclick();
    await page.getByRole("heading", { name: "My orders" }).waitFor();
    const orders = page.locator("article.order");
    await expect.poll(() => orders.count()).toBe(1);
    expect(await orders.locator("tfoot .total").textContent()).toBe("$39.89");
    expect(await orders.locator("tbody tr").allInnerTexts()).toEqual([
      "Stoneware teapot\t1 × $24.99\t$24.99",
      "Tea cups\t2 × $7.45\t$14.90",
    ]);
    expect(await page.getByRole("button", { name: "Basket (0)" }).count()).toBe(1);

    // The token lives in this tab's sessionStorage, never in localStorage.
    const storage = await page.evaluate(() => ({
      session: JSON.parse(sessionStorage.getItem("bazaar.session") ?? "null") as {
        accountId: string;
      } | null,
      local: localStorage.length,
    }));
    expect(storage.local).toBe(0);
    expect(storage.session?.accountId).toMatch(/^[0-9a-f-]{36}$/);

    // The order service agrees: one order, priced in cents on the server.
    const { orders: placed } = await createClient(
      OrderService,
      createConnectTransport({ baseUrl: order.server.url, httpVersion: "1.1" }),
    ).listOrdersForAccount({ accountId: storage.session?.accountId ?? "" }, admin);
    expect(placed.map((o) => o.totalCents)).toEqual([3989n]);

    if (mode === "direct") {
      await mkdir(new URL("./screenshots/latest", import.meta.url), { recursive: true });
      await page.screenshot({ path: screenshot, fullPage: true });
      console.log(`storefront screenshot: ${screenshot}`);
    }
  });

  it("shows the order PLACED, cancels it after a confirmation, and its stock comes back", async () => {
    const orders = createClient(
      OrderService,
      createConnectTransport({ baseUrl: order.server.url, httpVersion: "1.1" }),
    );
    const mine = page.locator("article.order").first();
    await expect.poll(() => mine.locator(".status-label").textContent()).toBe("Placed");
    const [teapot, cups] = [ids.teapot ?? "", ids.cups ?? ""];
    const stocks = async () =>
      Promise.all(
        [teapot, cups].map(async (id) => (await catalog.getProduct({ id })).product?.stock),
      );
    expect(await stocks()).toEqual([4, 8]);

    // Asked first; "Keep order" changes nothing.
    await mine.getByRole("button", { name: "Cancel order" }).click();
    const confirm = mine.getByRole("group", { name: "Confirm cancelling this order" });
    await confirm.getByRole("button", { name: "Keep order" }).click();
    expect(await confirm.count()).toBe(0);
    expect(await mine.locator(".status-label").textContent()).toBe("Placed");
    expect(await stocks()).toEqual([4, 8]);

    await mine.getByRole("button", { name: "Cancel order" }).click();
    await confirm.getByRole("button", { name: "Yes, cancel order" }).click();
    await expect.poll(() => mine.locator(".status-label").textContent()).toBe("Cancelled");
    expect(await mine.getByRole("button", { name: "Cancel order" }).count()).toBe(0);
    expect(await mine.locator("tfoot .total").textContent()).toBe("$39.89");
    // The page may show the cancel from the live stream as soon as it commits, before the
    // order service has given the stock back (services/order/lifecycle.ts, steps 1 then 3).
    await expect.poll(stocks).toEqual([5, 10]);
    const accountId = await page.evaluate(
      () =>
        (JSON.parse(sessionStorage.getItem("bazaar.session") ?? "{}") as { accountId: string })
          .accountId,
    );
    const { orders: listed } = await orders.listOrdersForAccount({ accountId }, admin);
    expect(listed.map((o) => o.status)).toEqual([OrderStatus.CANCELLED]);

    // Still so after a reload.
    await page.reload();
    await page.getByRole("button", { name: "My orders" }).click();
    await expect
      .poll(() => page.locator("article.order").first().locator(".status-label").textContent())
      .toBe("Cancelled");
    if (mode === "direct") {
      await mkdir(new URL("./screenshots/latest", import.meta.url), { recursive: true });
      await page.screenshot({ path: cancelledShot, fullPage: true });
      console.log(`storefront screenshot: ${cancelledShot}`);
    }
  });

  it("shows the stock fall live when another shopper orders, without a reload", async () => {
    await page.getByRole("button", { name: "Products" }).click();
    await page.getByRole("searchbox", { name: "Search products" }).fill(tag);
    await page.getByRole("button", { name: "Search" }).click();
    const stockOf = (p: Page, name: string) =>
      p.locator(".product", { has: p.getByRole("heading", { name }) }).locator(".stock");
    await expect.poll(() => stockOf(page, "Stoneware teapot").textContent()).toBe("5 in stock");
    // Gone if the page reloads.
    await page.evaluate(() => Object.assign(window, { bazaarSamePage: true }));
    const asked = askedFor(page);

    // Another shopper, in a browser context of its own, buys two teapots.
    const other = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    try {
      const shopper = await other.newPage();
      shopper.on("request", (request) => requests.push(request.url()));
      await shopper.goto(storefront.url);
      await shopper.getByRole("searchbox", { name: "Search products" }).fill(tag);
      await shopper.getByRole("button", { name: "Search" }).click();
      const add = shopper.getByRole("button", { name: "Add Stoneware teapot to basket" });
      await add.click();
      await add.click();
      await shopper.getByRole("button", { name: "Basket (2)" }).click();
      await shopper.getByRole("button", { name: "Sign in to order" }).click();
      const signUp = shopper.getByRole("form", { name: "Create an account" });
      await signUp.getByLabel("Name").fill("Bea Shopper");
      await signUp.getByLabel("Email").fill(`bea-${tag}@example.com`);
      await signUp.getByLabel("Password").fill("another-long-password");
      await signUp.getByRole("button", { name: "Sign up" }).click();
      await shopper.getByRole("button", { name: "Place order" }).click();
      await shopper.getByRole("heading", { name: "My orders" }).waitFor();
    } finally {
      await other.close();
    }

    await expect
      .poll(() => stockOf(page, "Stoneware teapot").textContent(), live)
      .toBe("3 in stock");
    expect(await page.evaluate(() => "bazaarSamePage" in window)).toBe(true);
    // An admin's restock shows too.
    await catalog.updateProduct({ id: ids.teapot ?? "", stock: 7 }, admin);
    await expect
      .poll(() => stockOf(page, "Stoneware teapot").textContent(), live)
      .toBe("7 in stock");
    expect(await page.evaluate(() => "bazaarSamePage" in window)).toBe(true);
    // From the stream, not from reading the list again.
    expect(asked.stop().filter((url) => url.includes("/ListProducts"))).toEqual([]);
  });

  it("shows an order shipped by an admin on the shopper's page, without a reload", async () => {
    await page.getByRole("button", { name: "Add Tea cups to basket" }).click();
    await page.getByRole("button", { name: "Basket (1)" }).click();
    await page.getByRole("button", { name: "Place order" }).click();
    await page.getByRole("heading", { name: "My orders" }).waitFor();
    const newest = page.locator("article.order").first();
    await expect.poll(() => newest.locator(".status-label").textContent()).toBe("Placed");
    await expect.poll(() => page.locator("article.order").count()).toBe(2);
    const orderId = ((await newest.getAttribute("aria-label")) ?? "").replace("Order ", "");
    await page.evaluate(() => Object.assign(window, { bazaarSamePage: true }));
    const asked = askedFor(page);

    const orders = createClient(
      OrderService,
      createConnectTransport({ baseUrl: order.server.url, httpVersion: "1.1" }),
    );
    await orders.shipOrder({ id: orderId }, admin);
    await expect.poll(() => newest.locator(".status-label").textContent(), live).toBe("Shipped");
    expect(await newest.getByRole("button", { name: "Cancel order" }).count()).toBe(0);
    expect(await page.evaluate(() => "bazaarSamePage" in window)).toBe(true);
    expect(asked.stop().filter((url) => url.includes("/ListOrders"))).toEqual([]);
  });

  it("names the product that ran out, and says to try again when the order service is down", async () => {
    await page.getByRole("button", { name: "Products" }).click();
    await page.getByRole("button", { name: "Add Copper kettle to basket" }).click();
    // Someone else bought the last one meanwhile.
    await catalog.updateProduct({ id: ids.kettle ?? "", stock: 0 }, admin);
    await page.getByRole("button", { name: "Basket (1)" }).click();
    await page.getByRole("button", { name: "Place order" }).click();
    const alert = page.getByRole("alert");
    await expect
      .poll(() => alert.textContent())
      .toBe("Not enough “Copper kettle” in stock (out of stock, 1 requested).");
    expect(await page.locator("tr.invalid td").first().textContent()).toBe("Copper kettle");

    await order.stop();
    await page.getByRole("button", { name: "Place order" }).click();
    await expect.poll(() => alert.textContent()).toBe("Service unavailable, try again.");
  });

  it("sent every request to this machine, and only to the storefront and the services", () => {
    const origins = new Set(requests.map((url) => new URL(url).origin));
    for (const origin of origins)
      expect(new URL(origin).hostname).toMatch(/^(localhost|127\.0\.0\.1)$/);
    const called = forward ? [] : services.map((s) => s.server.url);
    const expected = [storefront.url, ...called].map((url) =>
      new URL(url).origin.replace("localhost", "127.0.0.1"),
    );
    expect([...origins].map((o) => o.replace("localhost", "127.0.0.1")).sort()).toEqual(
      [...new Set(expected)].sort(),
    );
  });
});
