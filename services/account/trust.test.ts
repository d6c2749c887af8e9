// Issue 9 items 6, 9 and the sign-up limit: a password change revokes older tokens here and
// (within the cache window) elsewhere; guesses at current_password are throttled; sign-ups per
// client are limited; production refuses a data directory whose admin kept the dev password.
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import { OrderService } from "../../gen/bazaar/order/v1/order_pb.js";
import { cachedTokenVersions } from "../../platform/auth/token-versions.js";
import { createLogger } from "../../platform/observability/logger.js";
import { bearer, rejection, testAuthority, testDatabaseEnv } from "../../platform/testing.js";
import { loadOrderConfig } from "../order/config.js";
import { startOrderService } from "../order/main.js";
import { developmentAdmin, loadAccountConfig } from "./config.js";
import { startAccountService } from "./main.js";
import { type AccountTestbed, openAccountTestbed } from "./testing.js";

const silent = createLogger({ service: "test", level: "silent", pretty: false });
const strong = "Zq8-rT4!wLm2#v";

describe("account trust", () => {
  let bed: AccountTestbed;
  beforeAll(async () => {
    bed = await openAccountTestbed({
      throttle: { maxFailures: 3, maxDelayMs: 60_000 },
      signups: { max: 4, windowMs: 60_000 },
    });
  });
  afterAll(() => bed?.close());

  const signUp = async (name: string) => {
    const email = `${name.toLowerCase()}-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const { account } = await bed.client.createAccount({ name, email, password: "first-pass-1" });
    const login = await bed.client.login({ email, password: "first-pass-1" });
    return { id: account?.id ?? "", email, token: login.accessToken };
  };

  it("revokes tokens issued before a password change", async () => {
    const ada = await signUp("Ada");
    await bed.client.updateAccount(
      { id: ada.id, newPassword: "second-pass-2", currentPassword: "first-pass-1" },
      bearer(ada.token),
    );
    const stale = await rejection(bed.client.getAccount({ id: ada.id }, bearer(ada.token)));
    expect(stale.code).toBe(Code.Unauthenticated);
    expect(stale.rawMessage).toMatch(/revoked.*log in again/);
    const fresh = await bed.client.login({ email: ada.email, password: "second-pass-2" });
    expect(
      (await bed.client.getAccount({ id: ada.id }, bearer(fresh.accessToken))).account?.id,
    ).toBe(ada.id);
    // A name change revokes nothing.
    await bed.client.updateAccount({ id: ada.id, name: "Ada L." }, bearer(fresh.accessToken));
    await bed.client.getAccount({ id: ada.id }, bearer(fresh.accessToken));
  });

  it("throttles guesses at current_password", async () => {
    const bob = await signUp("Bob");
    const guess = (currentPassword: string) =>
      bed.client.updateAccount(
        { id: bob.id, newPassword: "stolen-pass-9", currentPassword },
        bearer(bob.token),
      );
    for (let i = 0; i < 3; i++) {
      expect((await rejection(guess(`guess-${i}`))).code).toBe(Code.InvalidArgument);
    }
    const error = await rejection(guess("first-pass-1"));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toMatch(/too many wrong current passwords; try again in \d+ s/);
  });

  it("limits sign-ups per client address", async () => {
    // Two sign-ups above already used this window's four.
    const create = (i: number) =>
      bed.client.createAccount({
        name: "Many",
        email: `many-${i}-${crypto.randomUUID().slice(0, 8)}@example.com`,
        password: "many-pass-1",
      });
    await create(1);
    await create(2);
    const error = await rejection(create(3));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toMatch(/too many sign-ups from this address; try again in \d+ s/);
  });
});

describe("token versions elsewhere", () => {
  it("keeps a learned version for the window, then asks again; fails closed with none", async () => {
    let current = 0;
    let asked = 0;
    let down = false;
    const check = cachedTokenVersions(
      async () => {
        asked++;
        if (down) throw new Error("ECONNREFUSED");
        return current;
      },
      { cacheSeconds: 0.2 },
    );
    expect(await check("a", 0)).toBe(true);
    current = 1;
    expect(await check("a", 0)).toBe(true);
    expect(asked).toBe(1);
    await new Promise((r) => setTimeout(r, 250));
    expect(await check("a", 0)).toBe(false);
    expect(await check("a", 1)).toBe(true);
    down = true;
    await new Promise((r) => setTimeout(r, 250));
    // The last known version still decides while the account service is away ...
    expect(await check("a", 0)).toBe(false);
    // ... and an account never seen cannot be checked at all.
    await expect(check("b", 0)).rejects.toThrow(/account service is unavailable/);
  });

  it("makes the order service refuse a token older than a password change", async () => {
    const { authority } = testAuthority();
    const databases = await Promise.all([testDatabaseEnv(), testDatabaseEnv()]);
    const account = await startAccountService(
      loadAccountConfig({
        ...databases[0]?.env,
        PORT: "0",
        HOST: "127.0.0.1",
        ...authority.env("account"),
      }),
      { logger: silent },
    );
    const order = await startOrderService(
      loadOrderConfig({
        ...databases[1]?.env,
        PORT: "0",
        HOST: "127.0.0.1",
        ...authority.env("order"),
        ACCOUNT_URL: account.server.url,
        CATALOG_URL: "http://127.0.0.1:9",
        TOKEN_VERSION_CACHE_SECONDS: "0",
        RECOVERY_INTERVAL_MS: "0",
      }),
      { logger: silent },
    );
    try {
      const connect = (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: "1.1" });
      const accounts = createClient(AccountService, connect(account.server.url));
      const orders = createClient(OrderService, connect(order.server.url));
      const email = `eve-${crypto.randomUUID().slice(0, 8)}@example.com`;
      const { account: eve } = await accounts.createAccount({
        name: "Eve",
        email,
        password: "first-pass-1",
      });
      const old = (await accounts.login({ email, password: "first-pass-1" })).accessToken;
      const id = eve?.id ?? "";
      expect((await orders.listOrdersForAccount({ accountId: id }, bearer(old))).orders).toEqual(
        [],
      );
      await accounts.updateAccount(
        { id, newPassword: "second-pass-2", currentPassword: "first-pass-1" },
        bearer(old),
      );
      const stale = await rejection(orders.listOrdersForAccount({ accountId: id }, bearer(old)));
      expect(stale.code).toBe(Code.Unauthenticated);
      const fresh = (await accounts.login({ email, password: "second-pass-2" })).accessToken;
      expect((await orders.listOrdersForAccount({ accountId: id }, bearer(fresh))).orders).toEqual(
        [],
      );
    } finally {
      await order.stop();
      await account.stop();
      for (const database of databases) await database.drop();
    }
  });
});

describe("production", () => {
  it("refuses to start while an admin still has the development password", async () => {
    const database = await testDatabaseEnv();
    const { authority } = testAuthority();
    const common = { ...database.env, PORT: "0", HOST: "127.0.0.1", ...authority.env("account") };
    try {
      const dev = await startAccountService(loadAccountConfig(common), { logger: silent });
      await dev.stop();
      const production = loadAccountConfig({
        ...common,
        NODE_ENV: "production",
        ADMIN_PASSWORD: strong,
      });
      await expect(startAccountService(production, { logger: silent })).rejects.toThrow(
        new RegExp(`admin account ${developmentAdmin.email} still has the development password`),
      );
    } finally {
      await database.drop();
    }
  });
});
