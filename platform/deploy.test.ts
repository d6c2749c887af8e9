// The published deployment files: their example values cannot pass production's checks, and
// the gateway is handed no signing material anywhere.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { loadGatewayConfig } from "../gateway/config.js";
import { loadAccountConfig } from "../services/account/config.js";
import { resolveKeys } from "./auth/keys.js";
import { secretProblem } from "./auth/secrets.js";
import { ConfigError } from "./config.js";

const read = (path: string) => readFile(new URL(`../${path}`, import.meta.url), "utf8");

/** Every `NAME: value` under the example's stringData/data, unquoted. */
async function exampleValues(): Promise<Record<string, string[]>> {
  const values: Record<string, string[]> = {};
  for (const match of (await read("deploy/kubernetes/secret.example.yaml")).matchAll(
    /^ {2}([A-Z_]+): "?(.*?)"?$/gm,
  )) {
    const [, name = "", value = ""] = match;
    values[name] = [...(values[name] ?? []), value];
  }
  return values;
}

describe("deploy/kubernetes/secret.example.yaml applied unedited", () => {
  it("fails the production checks, naming each variable", async () => {
    const values = await exampleValues();
    const admin = values.ADMIN_PASSWORD?.[0] ?? "";
    expect(() => loadAccountConfig({ NODE_ENV: "production", ADMIN_PASSWORD: admin })).toThrow(
      /ADMIN_PASSWORD is a published example value/,
    );
    for (const [i, service] of (["account", "catalog", "order"] as const).entries()) {
      await expect(
        resolveKeys({
          service,
          privateKey: values.AUTH_PRIVATE_KEY?.[i],
          publicKeys: values.AUTH_PUBLIC_KEYS?.[0],
          production: true,
          dir: "/nonexistent",
        }),
      ).rejects.toThrow(ConfigError);
    }
  });

  it("refuses passwords with spaces or low variety, and the published ones", () => {
    for (const weak of ["choose a real one", "choose-one", "bazaar-admin", "aaaaaaaaaaaaaaaa"]) {
      expect(secretProblem(weak)).toBeDefined();
    }
    expect(secretProblem("a-real-secret-pw")).toMatch(/too predictable/);
    expect(secretProblem("correct horse battery staple")).toMatch(/spaces/);
    expect(secretProblem("Qx7-vLp2!mZr9")).toBeUndefined();
  });
});

describe("the gateway", () => {
  it("has no signing material in its config, compose or Kubernetes", async () => {
    expect(
      Object.keys(loadGatewayConfig({})).filter((name) => /AUTH|KEY|SECRET/.test(name)),
    ).toEqual([]);
    const compose = await read("compose.yaml");
    const gateway = /\n {2}gateway:\n([\s\S]*?)\n {2}\S/.exec(compose)?.[1] ?? "";
    expect(gateway).toContain("dist/gateway.js");
    expect(gateway).not.toMatch(/AUTH_|KEY|SECRET|public-keys/);
    // The anchor every process shares holds no key either.
    const shared = /x-service:[\s\S]*?\n\n/.exec(compose)?.[0] ?? "";
    expect(shared).not.toMatch(/AUTH_|KEY|SECRET/);
    const deployment = await read("deploy/kubernetes/base/gateway.yaml");
    expect(deployment).toContain("dist/gateway.js");
    expect(deployment).not.toMatch(/AUTH_|secretKeyRef|bazaar-public-keys/);
  });
});
