// The client's address for per-client limits: X-Forwarded-For only from trusted proxies.
import { describe, expect, it } from "vitest";
import { loadCatalogConfig } from "../../services/catalog/config.js";
import { clientAddress, trustedProxies } from "./client-address.js";

describe("clientAddress", () => {
  const none = trustedProxies(undefined);
  const gateway = trustedProxies("10.0.0.0/8, 192.0.2.1");

  it("is the peer when no proxy is trusted, whatever the header says", () => {
    expect(clientAddress("203.0.113.9", "198.51.100.1", none)).toBe("203.0.113.9");
    expect(clientAddress("::ffff:203.0.113.9", undefined, none)).toBe("203.0.113.9");
  });

  it("believes the nearest trusted hops, and no further", () => {
    expect(clientAddress("10.1.2.3", "198.51.100.1", gateway)).toBe("198.51.100.1");
    // The client wrote a fake first entry; the trusted proxy appended the real one.
    expect(clientAddress("10.1.2.3", "1.2.3.4, 198.51.100.1", gateway)).toBe("198.51.100.1");
    // Two trusted hops (an ingress, then the gateway).
    expect(clientAddress("10.1.2.3", "198.51.100.1, 192.0.2.1", gateway)).toBe("198.51.100.1");
    expect(clientAddress("203.0.113.9", "198.51.100.1", gateway)).toBe("203.0.113.9");
  });

  it("refuses a TRUSTED_PROXIES that is not addresses or ranges", () => {
    expect(() => loadCatalogConfig({ TRUSTED_PROXIES: "gateway" })).toThrow(
      /TRUSTED_PROXIES must be comma-separated IP addresses or CIDR ranges/,
    );
    expect(loadCatalogConfig({ TRUSTED_PROXIES: "10.0.0.0/8,::1" }).TRUSTED_PROXIES).toBe(
      "10.0.0.0/8,::1",
    );
  });
});
