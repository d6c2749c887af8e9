// How the storefront process decides whether to forward the services.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../platform/config.js";
import { forwardsServices, loadWebConfig } from "./config.js";

describe("PAGE_SERVICES", () => {
  const forwards = (env: Record<string, string>) => forwardsServices(loadWebConfig(env));

  it("forwards in production and not elsewhere, unless told", () => {
    expect(forwards({ NODE_ENV: "production" })).toBe(true);
    expect(forwards({ NODE_ENV: "production", PAGE_SERVICES: "" })).toBe(true);
    expect(forwards({})).toBe(false);
    expect(forwards({ NODE_ENV: "test" })).toBe(false);
    expect(forwards({ NODE_ENV: "production", PAGE_SERVICES: "direct" })).toBe(false);
    expect(forwards({ PAGE_SERVICES: " proxy " })).toBe(true);
  });

  it("names the variable when its value is neither mode", () => {
    expect(() => loadWebConfig({ PAGE_SERVICES: "gateway" })).toThrow(ConfigError);
    expect(() => loadWebConfig({ PAGE_SERVICES: "gateway" })).toThrow(
      /PAGE_SERVICES must be direct or proxy/,
    );
  });
});
