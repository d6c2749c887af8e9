// Token verification: each distinct token's signature is checked once, then remembered until
// it expires; the version check still runs on every call.
import { describe, expect, it } from "vitest";
import { TokenVerifier } from "./auth.js";
import { TestAuthority } from "./auth-testing.js";
import { KeySet } from "./keys.js";

describe("TokenVerifier", () => {
  it("checks a token's signature once, and its version on every call", async () => {
    const authority = new TestAuthority();
    const keys = new KeySet([authority.keys.account.key.publicJwk]);
    let lookups = 0;
    const counted = Object.assign(Object.create(keys), {
      get: (kid: string) => {
        lookups++;
        return keys.get(kid);
      },
    }) as KeySet;
    let versionChecks = 0;
    const verifier = new TokenVerifier(counted, {
      versions: async () => {
        versionChecks++;
        return true;
      },
      cacheSize: 2,
    });
    const id = "01900000-0000-7000-8000-000000000001";
    const { token } = await authority.issueUserToken(id, "customer", 60);
    for (let i = 0; i < 5; i++) {
      expect(await verifier.verify(token)).toEqual({
        kind: "user",
        accountId: id,
        role: "customer",
      });
    }
    expect(lookups).toBe(1);
    expect(versionChecks).toBe(5);
    // Bounded: more distinct tokens than the cache holds push the first one out.
    for (let i = 0; i < 4; i++) {
      await verifier.verify((await authority.issueUserToken(id, "admin", 60 + i)).token);
    }
    await verifier.verify(token);
    expect(lookups).toBe(6);
  });
});
