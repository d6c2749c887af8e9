// Configuration is refused loudly and precisely; the development secret is shared safely.
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadGatewayConfig } from "../gateway/config.js";
import { loadAccountConfig } from "../services/account/config.js";
import { resolveAuthSecret } from "./auth.js";
import { ConfigError, corsOrigins } from "./config.js";

function refusal(load: () => unknown): string {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected the configuration to be refused");
}

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
    const production = { NODE_ENV: "production", AUTH_SECRET: "s".repeat(40) };
    expect(refusal(() => loadAccountConfig(production))).toMatch(/ADMIN_PASSWORD must be set/);
    expect(
      refusal(() => loadAccountConfig({ ...production, ADMIN_PASSWORD: "bazaar-admin" })),
    ).toMatch(/ADMIN_PASSWORD must be set to a non-default password/);
    expect(loadAccountConfig({ ...production, ADMIN_PASSWORD: "a-real-secret-pw" }).NODE_ENV).toBe(
      "production",
    );
  });

  it("requires AUTH_SECRET of at least 32 bytes in production", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "bazaar-")), "auth-secret");
    await expect(resolveAuthSecret({ secret: undefined, production: true, file })).rejects.toThrow(
      /AUTH_SECRET must be set/,
    );
    await expect(
      resolveAuthSecret({ secret: "too-short", production: true, file }),
    ).rejects.toThrow(/AUTH_SECRET must be at least 32 bytes in production \(got 9\)/);
    const secret = await resolveAuthSecret({ secret: "x".repeat(32), production: true, file });
    expect(secret.length).toBe(32);
  });

  it("shares one development secret between processes starting at once", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "bazaar-")), "nested", "auth-secret");
    const secrets = await Promise.all(
      Array.from({ length: 8 }, () =>
        resolveAuthSecret({ secret: undefined, production: false, file }),
      ),
    );
    const texts = new Set(secrets.map((s) => Buffer.from(s).toString()));
    expect(texts.size).toBe(1);
    expect((await readFile(file, "utf8")).trim()).toBe([...texts][0]);
    expect([...texts][0]?.length).toBeGreaterThanOrEqual(32);
  });

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
