// Where a process listens when HOST is unset (issue 9 item 11): loopback outside production,
// so a development machine's default admin is not reachable from its network.
import { describe, expect, it } from "vitest";
import { loadGatewayConfig } from "../gateway/config.js";
import { loadAccountConfig } from "../services/account/config.js";
import { loadCatalogConfig } from "../services/catalog/config.js";
import { loadOrderConfig } from "../services/order/config.js";

describe("the default HOST", () => {
  it("is 127.0.0.1 in development and test, for every process", () => {
    for (const load of [loadAccountConfig, loadCatalogConfig, loadOrderConfig, loadGatewayConfig]) {
      expect(load({}).HOST).toBe("127.0.0.1");
      expect(load({ NODE_ENV: "test", HOST: "  " }).HOST).toBe("127.0.0.1");
    }
  });

  it("is 0.0.0.0 in production, and HOST when it is set", () => {
    expect(loadGatewayConfig({ NODE_ENV: "production" }).HOST).toBe("0.0.0.0");
    expect(loadGatewayConfig({ NODE_ENV: "production", HOST: "10.0.0.7" }).HOST).toBe("10.0.0.7");
    expect(loadCatalogConfig({ HOST: "0.0.0.0" }).HOST).toBe("0.0.0.0");
    expect(loadCatalogConfig({ HOST: "::" }).HOST).toBe("::");
  });
});
