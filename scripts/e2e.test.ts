// End to end, as a user would run it: `npm start`'s supervisor launches the embedded
// PostgreSQL and the four real processes (in a scratch working directory, on free ports), and a
// shopper's journey goes through the public GraphQL API only. Then SIGTERM stops everything
// cleanly, and a second start finds the data the first one left.
import type { ChildProcess } from "node:child_process";
import { chmod, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleOf, supervisorBundle } from "../platform/processes.js";
import { freePort, type Gathered, spawnGathering, waitForOutput } from "../platform/testing.js";
import { developmentAdmin } from "../services/account/config.js";
import { build } from "./build.js";

// What `npm start` runs: the supervisor's bundle, built first as its prestart does.
const start = new URL(`../${bundleOf(supervisorBundle)}`, import.meta.url).pathname;

// biome-ignore lint/suspicious/noExplicitAny: each caller states the shape it expects and asserts on it.
type Loose = any;

interface GraphQLResult {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

describe("npm start, end to end through the gateway", () => {
  let supervisor: ChildProcess;
  let launched: Gathered;
  let gateway: string;
  let storefront: string;
  let cwd: string;
  let env: Record<string, string>;
  let firstShopper = "";

  /** Runs `npm start`'s supervisor in `cwd` and waits for its banner. */
  const launch = async () => {
    launched = spawnGathering(process.execPath, ["--enable-source-maps", start], { cwd, env });
    supervisor = launched.child;
    await waitForOutput(launched, "Bazaar is running");
  };
  const stop = async () => {
    const exited = new Promise<number | null>((resolve) =>
      supervisor.once("exit", (code) => resolve(code)),
    );
    supervisor.kill("SIGTERM");
    return exited;
  };

  const gql = async (query: string, token?: string, variables?: Record<string, unknown>) => {
    const response = await fetch(`${gateway}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as GraphQLResult;
  };
  const data = async (
    query: string,
    token?: string,
    variables?: Record<string, unknown>,
  ): Promise<Loose> => {
    const result = await gql(query, token, variables);
    expect(result.errors).toBeUndefined();
    return result.data;
  };

  beforeAll(async () => {
    const ports = {
      ACCOUNT_PORT: 0,
      CATALOG_PORT: 0,
      ORDER_PORT: 0,
      GATEWAY_PORT: 0,
      POSTGRES_PORT: 0,
      WEB_PORT: 0,
    };
    for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = await freePort();
    gateway = `http://localhost:${ports.GATEWAY_PORT}`;
    storefront = `http://localhost:${ports.WEB_PORT}`;
    cwd = await mkdtemp(join(tmpdir(), "bazaar-e2e-"));
    // As root the database runs as the postgres user, which must pass through to .data/.
    await chmod(cwd, 0o711);
    env = {
      PATH: process.env.PATH ?? "",
      LOG_LEVEL: "warn",
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    };
    await build();
    await launch();
  }, 120_000);

  afterAll(async () => {
    if (supervisor && supervisor.exitCode === null) await stop();
    await rm(cwd, { recursive: true, force: true });
  }, 30_000);

  it("lets a shopper sign up, find products, order, and see only their own history", async () => {
    const admin = (
      await data(
        `mutation { login(email: "${developmentAdmin.email}", password: "${developmentAdmin.password}") { token account { role } } }`,
      )
    ).login as { token: string; account: { role: string } };
    expect(admin.account.role).toBe("ADMIN");

    const tag = Date.now().toString(36);
    const made = (await data(
      `mutation($a: ProductInput!, $b: ProductInput!) {
        a: createProduct(product: $a) { id price stock }
        b: createProduct(product: $b) { id price stock }
      }`,
      admin.token,
      {
        a: {
          name: `Quokka sticker ${tag}`,
          description: "A tiny vinyl quokka",
          price: 0.1,
          stock: 5,
        },
        b: {
          name: `Quokka postcard ${tag}`,
          description: "Matte card, 10 x 15 cm",
          price: 0.2,
          stock: 5,
        },
      },
    )) as { a: { id: string; price: number }; b: { id: string; price: number } };
    expect([made.a.price, made.b.price]).toEqual([0.1, 0.2]);

    const signUp = async (name: string) => {
      const email = `${name.toLowerCase()}-${tag}@example.com`;
      await data(`mutation($a: AccountInput!) { createAccount(account: $a) { id } }`, undefined, {
        a: { name, email, password: "a-long-password" },
      });
      const login = (
        await data(
          `mutation($e: String!) { login(email: $e, password: "a-long-password") { token account { id } } }`,
          undefined,
          {
            e: email,
          },
        )
      ).login as { token: string; account: { id: string } };
      return { token: login.token, id: login.account.id };
    };
    const alice = await signUp("Alice");
    firstShopper = `alice-${tag}@example.com`;
    const bob = await signUp("Bob");

    const found = (
      await data(`query($q: String!) { products(query: $q) { id name } }`, alice.token, {
        q: `quokka ${tag}`,
      })
    ).products as { id: string }[];
    expect(found.map((p) => p.id).sort()).toEqual([made.a.id, made.b.id].sort());

    const order = (
      await data(
        `mutation($o: OrderInput!) { createOrder(order: $o) { id totalPrice account { id } products { id name price quantity } } }`,
        alice.token,
        {
          o: {
            products: [
              { id: made.a.id, quantity: 1 },
              { id: made.b.id, quantity: 1 },
            ],
            idempotencyKey: `e2e-${tag}`,
          },
        },
      )
    ).createOrder as { id: string; totalPrice: number; account: { id: string } };
    expect(order.totalPrice).toBe(0.3); // exactly: computed in cents
    expect(order.account.id).toBe(alice.id);

    const history = (
      await data(
        `{ me { id orders { id totalPrice products { quantity product { stock } } } } }`,
        alice.token,
      )
    ).me as { orders: { id: string; products: { product: { stock: number } }[] }[] };
    expect(history.orders.map((o) => o.id)).toContain(order.id);
    expect(
      history.orders.find((o) => o.id === order.id)?.products.map((p) => p.product.stock),
    ).toEqual([4, 4]);

    const snooping = await gql(
      `query($id: ID!) { accounts(id: $id) { orders { id } } }`,
      bob.token,
      { id: alice.id },
    );
    expect(snooping.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    const bobs = (await data(`{ me { orders { id } } }`, bob.token)).me as { orders: unknown[] };
    expect(bobs.orders).toEqual([]);
  });

  // Both read files beside their sources (the storefront its build, GraphiQL its package), which
  // the bundles must still find.
  it("serves GraphiQL and the storefront with its assets", async () => {
    const page = await fetch(`${gateway}/graphql`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<html");
    const index = await fetch(storefront);
    expect(index.status).toBe(200);
    const html = await index.text();
    const script = html.match(/src="(\/assets\/[^"]+\.js)"/)?.[1];
    expect(script, html).toBeDefined();
    const asset = await fetch(`${storefront}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toMatch(/javascript/);
    await asset.body?.cancel();
  }, 60_000);

  it("stops every process on SIGTERM and exits 0", async () => {
    const exited = new Promise<number | null>((resolve) =>
      supervisor.once("exit", (code) => resolve(code)),
    );
    supervisor.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(launched.output).not.toMatch(/exited unexpectedly/);
    // The database stopped too, cleanly: a running or crashed server leaves its lock file.
    await expect(stat(join(cwd, ".data/postgres/postmaster.pid"))).rejects.toThrow(/ENOENT/);
  }, 30_000);

  it("keeps .data private: directories 0700 (0710 to let the postgres user through), files 0600", async () => {
    const root = join(cwd, ".data");
    const rootMode = (await stat(root)).mode & 0o777;
    expect([0o700, 0o710]).toContain(rootMode);
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    expect(entries.map((e) => e.name)).toEqual(
      expect.arrayContaining(["postgres", "postgres-credentials.json", "PG_VERSION"]),
    );
    const loose: string[] = [];
    for (const entry of entries) {
      const path = join(entry.parentPath, entry.name);
      const mode = (await stat(path)).mode & 0o777;
      if (entry.isDirectory() ? mode !== 0o700 : mode & 0o077) {
        loose.push(`${path} ${mode.toString(8)}`);
      }
    }
    expect(loose).toEqual([]);
  });

  it("starts again on the same data: nothing initialised twice, accounts kept", async () => {
    expect(launched.output).toContain("initialised a new cluster");
    await launch();
    expect(launched.output).not.toContain("initialised a new cluster");
    const login = await data(
      `mutation($e: String!) { login(email: $e, password: "a-long-password") { account { email } } }`,
      undefined,
      { e: firstShopper },
    );
    expect(login.login.account.email).toBe(firstShopper);
    expect(await stop()).toBe(0);
  }, 120_000);
});
