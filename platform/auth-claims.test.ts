// Tokens signed with the right key but claiming shapes no real token has (issue 9 E): the
// verifier refuses them, so a forged subject never reaches a handler or SQL.
import { Code } from "@connectrpc/connect";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { TokenAuthority } from "./auth.js";
import { rejection } from "./testing.js";

const key = new TextEncoder().encode("k".repeat(32));
const authority = new TokenAuthority(key);

function signed(claims: Record<string, unknown>, subject: string): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer("bazaar")
    .setAudience("bazaar")
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime("60s")
    .sign(key);
}

describe("claims a well-signed token may carry", () => {
  it.each([
    ["a user subject that is not a UUID", { typ: "user", role: "customer" }, "not-a-uuid"],
    ["a user subject with SQL in it", { typ: "user", role: "admin" }, "' or 1=1 --"],
    ["an unknown role", { typ: "user", role: "root" }, "0190a7b0-0000-7000-8000-000000000001"],
    [
      "a role that is not a string",
      { typ: "user", role: ["admin"] },
      "0190a7b0-0000-7000-8000-000000000001",
    ],
    ["an unknown service", { typ: "service" }, "service:evil"],
    ["a service subject without its prefix", { typ: "service" }, "order"],
    ["an unknown token type", { typ: "robot" }, "service:order"],
  ])("refuses %s as UNAUTHENTICATED", async (_, claims, subject) => {
    const error = await rejection(authority.verify(await signed(claims, subject)));
    expect(error.code).toBe(Code.Unauthenticated);
  });

  it("accepts the tokens the authority issues", async () => {
    const id = "0190A7B0-0000-7000-8000-000000000001";
    const { token } = await authority.issueUserToken(id, "customer", 60);
    expect(await authority.verify(token)).toEqual({
      kind: "user",
      accountId: id.toLowerCase(),
      role: "customer",
    });
    for (const service of ["account", "catalog", "order", "gateway"]) {
      expect(await authority.verify(await authority.issueServiceToken(service))).toEqual({
        kind: "service",
        service,
      });
    }
  });
});
