// A browser client with Connect-Web, talking to the account service directly from a page on
// another localhost origin (Debian's chromium through playwright-core): CORS preflights pass,
// both the Connect and the gRPC-Web protocols work, and an origin not allowed is refused.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { build } from "esbuild";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostedService } from "../../platform/host.js";
import { createScratchDatabase, testAuthority } from "../../platform/testing.js";
import { haveChromium, launchChromium } from "../../platform/testing-browser.js";
import { loadAccountConfig } from "./config.js";
import { startAccountService } from "./main.js";
import type * as schema from "./schema.js";

const available = haveChromium("the Connect-Web browser test");

// What a browser app would write: generated client, Connect-Web transports, a bearer token.
const client = `
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { AccountService } from "./gen/bazaar/account/v1/account_pb.js";

globalThis.shop = async (baseUrl, email) => {
  const connect = createClient(AccountService, createConnectTransport({ baseUrl }));
  const grpcWeb = createClient(AccountService, createGrpcWebTransport({ baseUrl }));
  // GetAccount has no side effects, so Connect may send it as a cacheable GET.
  const getter = createClient(AccountService, createConnectTransport({ baseUrl, useHttpGet: true }));
  try {
    const { account } = await connect.createAccount({ name: "Browser", email, password: "from-the-page" });
    const login = await grpcWeb.login({ email, password: "from-the-page" });
    const headers = { authorization: "Bearer " + login.accessToken };
    const me = await connect.getAccount({ id: account.id }, { headers });
    const viaGet = await getter.getAccount({ id: account.id }, { headers });
    return { ok: true, email: me.account.email, sameId: viaGet.account.id === account.id };
  } catch (error) {
    return { ok: false, error: String(error) };
  }
};
`;

describe.skipIf(!available)("Connect-Web in a browser", () => {
  let open: HostedService<typeof schema>;
  let closed: HostedService<typeof schema>;
  let page: http.Server;
  let pageUrl: string;
  let browser: Browser;
  let databases: Awaited<ReturnType<typeof createScratchDatabase>>[] = [];

  beforeAll(async () => {
    const { authority } = testAuthority();
    const env = {
      PORT: "0",
      HOST: "127.0.0.1",
      ...authority.env("account"),
      LOG_LEVEL: "silent",
    };
    databases = [await createScratchDatabase(), await createScratchDatabase()];
    open = await startAccountService(
      loadAccountConfig({ ...env, DATABASE_URL: databases[0]?.url }),
    );
    closed = await startAccountService(
      loadAccountConfig({
        ...env,
        DATABASE_URL: databases[1]?.url,
        CORS_ORIGINS: "https://shop.example",
      }),
    );

    const bundle = await build({
      stdin: {
        contents: client,
        resolveDir: new URL("../..", import.meta.url).pathname,
        loader: "ts",
      },
      bundle: true,
      format: "esm",
      platform: "browser",
      write: false,
    });
    const script = bundle.outputFiles[0]?.text ?? "";
    page = http.createServer((req, res) => {
      if (req.url === "/app.js") {
        res.writeHead(200, { "content-type": "text/javascript" });
        res.end(script);
      } else {
        res.writeHead(200, { "content-type": "text/html" });
        res.end('<!doctype html><title>shop</title><script type="module" src="/app.js"></script>');
      }
    });
    await new Promise<void>((resolve) => page.listen(0, "127.0.0.1", resolve));
    // localhost here and 127.0.0.1 for the service: different origins, so CORS applies.
    pageUrl = `http://localhost:${(page.address() as AddressInfo).port}/`;
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => page?.close(resolve));
    await open?.stop();
    await closed?.stop();
    for (const database of databases) await database.drop();
  });

  it("signs up, logs in and reads the account from another origin", async () => {
    const tab = await browser.newPage();
    const methods: string[] = [];
    tab.on("request", (request) => {
      if (request.url().includes("AccountService")) methods.push(request.method());
    });
    await tab.goto(pageUrl);
    await tab.waitForFunction(() => "shop" in globalThis);
    const result = await tab.evaluate(
      ([baseUrl, email]) =>
        (globalThis as unknown as { shop: (u: string, e: string) => Promise<unknown> }).shop(
          baseUrl as string,
          email as string,
        ),
      [open.server.url.replace("localhost", "127.0.0.1"), "browser@example.com"],
    );
    expect(result).toEqual({ ok: true, email: "browser@example.com", sameId: true });
    expect(methods).toEqual(["POST", "POST", "POST", "GET"]);
    await tab.close();
  });

  it("is refused by a service whose CORS_ORIGINS does not list the page's origin", async () => {
    const tab = await browser.newPage();
    await tab.goto(pageUrl);
    await tab.waitForFunction(() => "shop" in globalThis);
    const result = (await tab.evaluate(
      ([baseUrl, email]) =>
        (globalThis as unknown as { shop: (u: string, e: string) => Promise<unknown> }).shop(
          baseUrl as string,
          email as string,
        ),
      [closed.server.url.replace("localhost", "127.0.0.1"), "blocked@example.com"],
    )) as { ok: boolean; error?: string };
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/fetch/i);
    await tab.close();
  });
});
