// Configuration is refused loudly and precisely; development keys are made once and kept private.
import { mkdtemp, readdir, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadGatewayConfig } from "../gateway/config.js";
import { loadAccountConfig } from "../services/account/config.js";
import { resolveKeys, type ServiceName, signingServices } from "./auth/keys.js";
import { ConfigError, corsOrigins } from "./config.js";
import { runToExit, testAuthority } from "./testing.js";

function refusal(load: () => unknown): string {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected the configuration to be refused");
}

/** A service's keys as a process outside production resolves them: made under `dir`. */
const developmentKeysIn = (dir: string, service: ServiceName) =>
  resolveKeys({ service, privateKey: undefined, publicKeys: undefined, production: false, dir });

describe("configuration", () => {
  it("gives the defaults when nothing is set", () => {
    const config = loadAccountConfig({});
    expect(config.PORT).toBe(50051);
    expect(config.ADMIN_EMAIL).toBe("admin@example.com");
    expect(config.DATABASE_URL).toBeUndefined();
  });

  it("names every bad variable and what it got", () => {
    const message = refusal(() =>
      loadAccountConfig({
        PORT: "seventy",
        LOG_LEVEL: "loud",
        DATABASE_URL: "mysql://x",
        TOKEN_TTL_SECONDS: "5",
      }),
    );
    expect(message).toMatch(/PORT must be an integer \(got "seventy"\)/);
    expect(message).toMatch(/LOG_LEVEL must be one of/);
    expect(message).toMatch(/DATABASE_URL must be a postgres:\/\/ URL/);
    expect(message).toMatch(/TOKEN_TTL_SECONDS must be at least 60/);
  });

  it("refuses an out-of-range port and an invalid admin email", () => {
    expect(
      refusal(() => loadAccountConfig({ DATABASE_URL: "postgres://a@localhost/db?host=run" })),
    ).toMatch(/DATABASE_URL must name its socket directory \(\?host=\) as an absolute path/);
    expect(
      loadAccountConfig({ DATABASE_URL: "postgres://a@localhost/db?host=/run/postgresql" })
        .DATABASE_URL,
    ).toBe("postgres://a@localhost/db?host=/run/postgresql");
    expect(refusal(() => loadAccountConfig({ PORT: "70000" }))).toMatch(
      /PORT must be at most 65535/,
    );
    expect(refusal(() => loadAccountConfig({ ADMIN_EMAIL: "root" }))).toMatch(
      /ADMIN_EMAIL must be an email address/,
    );
  });

  it("never echoes a secret's value", () => {
    const message = refusal(() => loadAccountConfig({ ADMIN_PASSWORD: "short" }));
    expect(message).toMatch(/ADMIN_PASSWORD must be 8 to 128 characters/);
    expect(message).not.toContain('"short"');
  });

  it("refuses the default admin password in production", () => {
    const production = { NODE_ENV: "production" };
    expect(refusal(() => loadAccountConfig(production))).toMatch(/ADMIN_PASSWORD must be set/);
    expect(
      refusal(() => loadAccountConfig({ ...production, ADMIN_PASSWORD: "bazaar-admin" })),
    ).toMatch(/ADMIN_PASSWORD must be set to a non-default password/);
    expect(loadAccountConfig({ ...production, ADMIN_PASSWORD: "Qx7-vLp2!mZr9" }).NODE_ENV).toBe(
      "production",
    );
  });

  it("refuses to start in production without keys, naming each variable", async () => {
    const dir = join(await mkdtemp(join(tmpdir(), "bazaar-")), "keys");
    const keys = (privateKey?: string, publicKeys?: string) =>
      resolveKeys({ service: "order", privateKey, publicKeys, production: true, dir });
    await expect(keys()).rejects.toThrow(
      /AUTH_PRIVATE_KEY must be set in production[\s\S]*AUTH_PUBLIC_KEYS must be set in production/,
    );
    const { authority } = testAuthority();
    const orderKey = JSON.stringify(authority.keys.order.privateJwk);
    await expect(keys(orderKey)).rejects.toThrow(/AUTH_PUBLIC_KEYS must be set in production/);
    // The published example's placeholder is no key at all.
    await expect(keys("run: npm run keys -- order", authority.publicKeys())).rejects.toThrow(
      /AUTH_PRIVATE_KEY must be a JSON Web Key/,
    );
    // Another service's key is not this service's identity.
    await expect(
      keys(JSON.stringify(authority.keys.catalog.privateJwk), authority.publicKeys()),
    ).rejects.toThrow(/AUTH_PRIVATE_KEY must have a "kid" starting with "order."/);
    const resolved = await keys(orderKey, authority.publicKeys());
    expect(resolved.signing.kid).toBe(authority.keys.order.key.kid);
  });

  it("makes each service its own development key once, 0600 in a 0700 directory", async () => {
    const dir = join(await mkdtemp(join(tmpdir(), "bazaar-")), "nested", "keys");
    const resolve = (service: ServiceName) => developmentKeysIn(dir, service);
    const orders = await Promise.all(Array.from({ length: 6 }, () => resolve("order")));
    expect(new Set(orders.map((o) => o.signing.kid)).size).toBe(1);
    const account = await resolve("account");
    expect(account.signing.kid).not.toBe(orders[0]?.signing.kid);
    // The order process learns the account's key without a restart, but never its private half.
    expect((await orders[0]?.keys.get(account.signing.kid))?.service).toBe("account");
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const name of await readdir(dir)) {
      expect((await stat(join(dir, name))).mode & 0o777).toBe(0o600);
    }
    expect(JSON.parse(await readFile(join(dir, "order.public.jwk"), "utf8")).d).toBeUndefined();
  });

  it("lets services restart together on the same keys, never reading a half-written one", async () => {
    const dir = join(await mkdtemp(join(tmpdir(), "bazaar-")), "keys");
    // Three processes, as under npm start, each starting its service's keys 150 times over
    // while the others do: each publishes its public key file and reads the others'. Written
    // in place, a file was now and then read empty ("AUTH_PUBLIC_KEYS must be a JWK Set").
    const restartMany = (service: string) =>
      runToExit(process.execPath, [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `const { resolveKeys } = await import(${JSON.stringify(new URL("./auth/keys.ts", import.meta.url).href)});
        for (let i = 0; i < 150; i++) {
          await resolveKeys({ service: "${service}", production: false, dir: ${JSON.stringify(dir)} });
        }`,
      ]);
    await Promise.all(signingServices.map((service) => developmentKeysIn(dir, service)));
    const runs = await Promise.all(signingServices.map(restartMany));
    for (const run of runs) expect(run, run.output).toMatchObject({ code: 0 });
    expect((await readdir(dir)).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  }, 60_000);

  it("reads peer URLs without a trailing slash, empty meaning the default", () => {
    const peers = loadGatewayConfig({ ACCOUNT_URL: "http://account:50051/", CATALOG_URL: "" });
    expect(peers.ACCOUNT_URL).toBe("http://account:50051");
    expect(peers.CATALOG_URL).toBe("http://localhost:50052");
    expect(refusal(() => loadGatewayConfig({ ORDER_URL: "order:50053" }))).toMatch(
      /ORDER_URL must be an http:\/\/ or https:\/\/ URL/,
    );
  });

  it("turns introspection on by default outside production, and lets it be set either way", () => {
    expect(loadGatewayConfig({}).GRAPHQL_INTROSPECTION).toBe(true);
    expect(loadGatewayConfig({ NODE_ENV: "production" }).GRAPHQL_INTROSPECTION).toBe(false);
    expect(
      loadGatewayConfig({ NODE_ENV: "production", GRAPHQL_INTROSPECTION: "yes" })
        .GRAPHQL_INTROSPECTION,
    ).toBe(true);
    expect(refusal(() => loadGatewayConfig({ GRAPHQL_INTROSPECTION: "maybe" }))).toMatch(
      /GRAPHQL_INTROSPECTION must be true or false/,
    );
  });

  it("allows localhost origins in development, and only the listed ones when set", () => {
    const dev = corsOrigins({ NODE_ENV: "development", CORS_ORIGINS: undefined });
    const allowed = (rules: (string | RegExp)[], origin: string) =>
      rules.some((r) => (typeof r === "string" ? r === origin : r.test(origin)));
    expect(allowed(dev, "http://localhost:5173")).toBe(true);
    expect(allowed(dev, "http://127.0.0.1:3000")).toBe(true);
    expect(allowed(dev, "http://localhost.evil.com")).toBe(false);
    expect(corsOrigins({ NODE_ENV: "production", CORS_ORIGINS: undefined })).toEqual([]);
    expect(
      corsOrigins({
        NODE_ENV: "production",
        CORS_ORIGINS: "https://shop.example, https://admin.example",
      }),
    ).toEqual(["https://shop.example", "https://admin.example"]);
  });
});

describe("NATS_URL and the outbox settings", () => {
  it("takes one or several nats:// URLs, and refuses anything else, naming the variable", () => {
    expect(loadAccountConfig({ NATS_URL: "nats://a:4222, nats://b:4222" }).NATS_URL).toBe(
      "nats://a:4222, nats://b:4222",
    );
    expect(loadAccountConfig({}).NATS_URL).toBeUndefined();
    expect(loadAccountConfig({}).OUTBOX_RETENTION_HOURS).toBe(24);
    expect(() => loadAccountConfig({ NATS_URL: "http://localhost:4222" })).toThrow(
      /NATS_URL must be nats:\/\/ URLs/,
    );
    expect(() => loadAccountConfig({ OUTBOX_RETENTION_HOURS: "0" })).toThrow(
      /OUTBOX_RETENTION_HOURS must be at least 1/,
    );
  });
});
