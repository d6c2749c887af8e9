// Tokens signed with a trusted key but claiming shapes no real token has (issue 9 E): the
// verifier refuses them, so a forged subject never reaches a handler or SQL.
import { Code } from "@connectrpc/connect";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { rejection } from "../testing.js";
import { TestAuthority } from "./auth-testing.js";
import type { ServiceName } from "./keys.js";

const authority = new TestAuthority();

/** A token with `claims` and `subject`, signed with `signer`'s real key. */
function signed(signer: ServiceName, claims: Record<string, unknown>, subject: string) {
  const { key } = authority.keys[signer];
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "EdDSA", typ: "JWT", kid: key.kid })
    .setIssuer("bazaar")
    .setAudience("bazaar")
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime("60s")
    .sign(key.privateKey);
}

const someone = "0190a7b0-0000-7000-8000-000000000001";

describe("claims a well-signed token may carry", () => {
  it.each([
    ["a user subject that is not a UUID", { typ: "user", role: "customer", ver: 0 }, "not-a-uuid"],
    ["a user subject with SQL in it", { typ: "user", role: "admin", ver: 0 }, "' or 1=1 --"],
    ["an unknown role", { typ: "user", role: "root", ver: 0 }, someone],
    ["a role that is not a string", { typ: "user", role: ["admin"], ver: 0 }, someone],
    [
      "a token version that is not a whole number",
      { typ: "user", role: "admin", ver: "1" },
      someone,
    ],
    ["an unknown service", { typ: "service" }, "service:evil"],
    ["a service subject without its prefix", { typ: "service" }, "account"],
    ["an unknown token type", { typ: "robot" }, "service:account"],
  ])("refuses %s as UNAUTHENTICATED", async (_, claims, subject) => {
    const error = await rejection(authority.verify(await signed("account", claims, subject)));
    expect(error.code).toBe(Code.Unauthenticated);
  });

  it("accepts the tokens the keys' owners issue, and reads account ids in lower case", async () => {
    const id = "0190A7B0-0000-7000-8000-000000000001";
    const { token } = await authority.issueUserToken(id, "customer", 60);
    expect(await authority.verify(token)).toEqual({
      kind: "user",
      accountId: id.toLowerCase(),
      role: "customer",
    });
    for (const service of ["account", "catalog", "order"] as const) {
      expect(await authority.verify(await authority.issueServiceToken(service))).toEqual({
        kind: "service",
        service,
      });
    }
  });
});
