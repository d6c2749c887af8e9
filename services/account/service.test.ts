// Every AccountService RPC through the in-memory router transport, on each real database.
import { Code, ConnectError } from "@connectrpc/connect";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Role } from "../../gen/bazaar/account/v1/account_pb.js";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { TestAuthority } from "../../platform/auth/auth-testing.js";
import { bearer, rejection, testAuthority } from "../../platform/testing.js";
import { hashPassword } from "./passwords.js";
import { guessKey } from "./service.js";
import { type AccountTestbed, openAccountTestbed } from "./testing.js";

describe("AccountService", () => {
  let bed: AccountTestbed;
  let client: AccountTestbed["client"];
  const { authority } = testAuthority();
  let adminToken: string;

  beforeAll(async () => {
    bed = await openAccountTestbed({
      auth: { authority },
      throttle: { maxFailures: 5, maxDelayMs: 60_000 },
      tokenTtlSeconds: 600,
    });
    client = bed.client;
    await bed.store.createIfAbsent({
      name: "Root",
      email: "root@example.com",
      role: "admin",
      passwordHash: await hashPassword("root-password"),
    });
    adminToken = (await client.login({ email: "root@example.com", password: "root-password" }))
      .accessToken;
  });

  afterAll(() => bed?.close());

  async function signUp(name: string, password = "a-good-password") {
    const email = `${name.toLowerCase().replace(/\W+/g, "-")}-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const { account } = await client.createAccount({ name, email, password });
    const { accessToken } = await client.login({ email, password });
    if (!account) throw new Error("CreateAccount returned no account");
    return { account, token: accessToken, email, password };
  }

  describe("CreateAccount", () => {
    it("creates a customer with a lower-cased email and a UUIDv7 id", async () => {
      const { account } = await client.createAccount({
        name: "  Grace Hopper  ",
        email: "Grace.Hopper@Example.COM",
        password: "cobol-1959",
      });
      expect(account?.name).toBe("Grace Hopper");
      expect(account?.email).toBe("grace.hopper@example.com");
      expect(account?.role).toBe(Role.CUSTOMER);
      expect(account?.id).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      expect(account?.createTime?.seconds).toBeGreaterThan(0n);
      expect(
        JSON.stringify(account, (_k, v) => (typeof v === "bigint" ? String(v) : v)),
      ).not.toContain("cobol");
    });

    it("refuses a taken email whatever its case", async () => {
      await client.createAccount({
        name: "One",
        email: "twin@example.com",
        password: "password-1",
      });
      const error = await rejection(
        client.createAccount({ name: "Two", email: "TWIN@example.com", password: "password-2" }),
      );
      expect(error.code).toBe(Code.AlreadyExists);
      expect(error.rawMessage).toMatch(/email already exists/);
    });

    it.each([
      [
        { name: "", email: "a@example.com", password: "long-enough" },
        "name",
        /1 to 100 characters/,
      ],
      [
        { name: "   ", email: "a@example.com", password: "long-enough" },
        "name",
        /1 to 100 characters/,
      ],
      [
        { name: "x".repeat(101), email: "a@example.com", password: "long-enough" },
        "name",
        /1 to 100/,
      ],
      [
        { name: "Bad\u0007Bell", email: "a@example.com", password: "long-enough" },
        "name",
        /control characters/,
      ],
      [
        { name: "Line\nBreak", email: "a@example.com", password: "long-enough" },
        "name",
        /line breaks/,
      ],
      [{ name: "Ok", email: "not-an-email", password: "long-enough" }, "email", /email address/],
      [{ name: "Ok", email: "", password: "long-enough" }, "email", /required/],
      [
        { name: "Ok", email: `${"a".repeat(250)}@example.com`, password: "long-enough" },
        "email",
        /254/,
      ],
      [{ name: "Ok", email: "a@example.com", password: "short" }, "password", /8 to 128/],
      [{ name: "Ok", email: "a@example.com", password: "p".repeat(129) }, "password", /8 to 128/],
    ])("rejects %j: %s", async (request, field, message) => {
      const error = await rejection(client.createAccount(request));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toContain(field);
      const [details] = error.findDetails(BadRequestSchema);
      expect(details?.fieldViolations.map((v) => v.field)).toContain(field);
      expect(details?.fieldViolations.find((v) => v.field === field)?.description).toMatch(message);
    });

    it("lists every violation at once", async () => {
      const error = await rejection(
        client.createAccount({ name: "", email: "nope", password: "x" }),
      );
      const [details] = error.findDetails(BadRequestSchema);
      expect(details?.fieldViolations.map((v) => v.field).sort()).toEqual([
        "email",
        "name",
        "password",
      ]);
    });

    it("counts characters, not UTF-16 units", async () => {
      const name = "😀".repeat(100);
      const { account } = await client.createAccount({
        name,
        email: "emoji@example.com",
        password: "🔑🔑🔑🔑🔑🔑🔑🔑",
      });
      expect(account?.name).toBe(name);
    });

    it("lets exactly one of 20 parallel sign-ups with one email win", async () => {
      const attempts = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          client.createAccount({
            name: `Racer ${i}`,
            email: "race@example.com",
            password: "fast-fingers",
          }),
        ),
      );
      const won = attempts.filter((a) => a.status === "fulfilled");
      const lost = attempts.filter((a): a is PromiseRejectedResult => a.status === "rejected");
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(19);
      for (const loss of lost) expect(ConnectError.from(loss.reason).code).toBe(Code.AlreadyExists);
    });
  });

  describe("Login", () => {
    it("issues a token that names the account and expires", async () => {
      const { account, email, password } = await signUp("Login");
      const response = await client.login({ email: email.toUpperCase(), password });
      expect(response.account?.id).toBe(account.id);
      const caller = await authority.verify(response.accessToken);
      expect(caller).toEqual({ kind: "user", accountId: account.id, role: "customer" });
      const expires = Number(response.expireTime?.seconds) * 1000;
      expect(expires - Date.now()).toBeGreaterThan(590_000);
      expect(expires - Date.now()).toBeLessThanOrEqual(600_000);
    });

    it("gives the same error for a wrong password and an unknown email", async () => {
      const { email } = await signUp("Wrong");
      const wrongPassword = await rejection(client.login({ email, password: "not-the-password" }));
      const unknownEmail = await rejection(
        client.login({ email: "nobody@example.com", password: "whatever-1" }),
      );
      expect(wrongPassword.code).toBe(Code.Unauthenticated);
      expect(unknownEmail.code).toBe(Code.Unauthenticated);
      expect(wrongPassword.rawMessage).toBe(unknownEmail.rawMessage);
    });

    it("takes about as long for an unknown email as for a wrong password", async () => {
      const { email } = await signUp("Timing");
      const time = async (login: () => Promise<unknown>) => {
        const started = performance.now();
        await login().catch(() => {});
        return performance.now() - started;
      };
      const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
      const known: number[] = [];
      const unknown: number[] = [];
      for (let i = 0; i < 4; i++) {
        known.push(await time(() => client.login({ email, password: `wrong-${i}-pass` })));
        unknown.push(
          await time(() =>
            client.login({ email: `ghost${i}@example.com`, password: "wrong-pass" }),
          ),
        );
      }
      // Both pay one argon2 verification (~10 ms); without the decoy, unknown would be ~0 ms.
      expect(median(unknown)).toBeGreaterThan(median(known) * 0.4);
      // In memory there is no peer address: every call comes from "unknown".
      await bed.throttle.recordSuccess(guessKey(email, "unknown"));
    });

    it("refuses further attempts after too many failures, naming when to retry", async () => {
      const { email, password } = await signUp("Throttled");
      for (let i = 0; i < 5; i++)
        await rejection(client.login({ email, password: "bad-guess-123" }));
      const error = await rejection(client.login({ email, password }));
      expect(error.code).toBe(Code.ResourceExhausted);
      expect(error.rawMessage).toMatch(/too many failed logins.*try again in \d+ s/);
    });
  });

  describe("GetAccount and BatchGetAccounts", () => {
    it("lets an account read itself and an admin read anyone", async () => {
      const { account, token } = await signUp("Reader");
      expect((await client.getAccount({ id: account.id }, bearer(token))).account?.email).toBe(
        account.email,
      );
      expect((await client.getAccount({ id: account.id }, bearer(adminToken))).account?.id).toBe(
        account.id,
      );
    });

    it("lets a service read any account", async () => {
      const { account } = await signUp("Served");
      const token = await authority.issueServiceToken("order");
      expect((await client.getAccount({ id: account.id }, bearer(token))).account?.id).toBe(
        account.id,
      );
    });

    it("refuses a customer reading another account, and anonymous callers", async () => {
      const a = await signUp("Alice");
      const b = await signUp("Bob");
      expect((await rejection(client.getAccount({ id: b.account.id }, bearer(a.token)))).code).toBe(
        Code.PermissionDenied,
      );
      expect((await rejection(client.getAccount({ id: b.account.id }))).code).toBe(
        Code.Unauthenticated,
      );
    });

    it("says NOT_FOUND for an unknown id and INVALID_ARGUMENT for a malformed one", async () => {
      const missing = await rejection(
        client.getAccount({ id: "01900000-0000-7000-8000-000000000000" }, bearer(adminToken)),
      );
      expect(missing.code).toBe(Code.NotFound);
      const malformed = await rejection(client.getAccount({ id: "42" }, bearer(adminToken)));
      expect(malformed.code).toBe(Code.InvalidArgument);
      expect(malformed.rawMessage).toMatch(/id: must be a UUID/);
    });

    it("answers a batch in request order, leaving unknown and malformed ids out", async () => {
      const a = await signUp("First");
      const b = await signUp("Second");
      const { accounts } = await client.batchGetAccounts(
        {
          ids: [
            b.account.id,
            "01900000-0000-7000-8000-000000000000",
            a.account.id,
            "junk",
            b.account.id,
          ],
        },
        bearer(adminToken),
      );
      expect(accounts.map((x) => x.id)).toEqual([b.account.id, a.account.id, b.account.id]);
    });

    it("lets a customer batch-read only itself", async () => {
      const a = await signUp("Solo");
      const b = await signUp("Other");
      const own = await client.batchGetAccounts({ ids: [a.account.id] }, bearer(a.token));
      expect(own.accounts.map((x) => x.id)).toEqual([a.account.id]);
      const error = await rejection(
        client.batchGetAccounts({ ids: [a.account.id, b.account.id] }, bearer(a.token)),
      );
      expect(error.code).toBe(Code.PermissionDenied);
    });

    it("caps a batch at 1000 ids", async () => {
      const ids = Array.from({ length: 1001 }, () => crypto.randomUUID());
      const error = await rejection(client.batchGetAccounts({ ids }, bearer(adminToken)));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toMatch(/ids: must hold at most 1000 ids/);
    });
  });

  describe("ListAccounts", () => {
    it("pages oldest first for an admin", async () => {
      const made = [await signUp("Page1"), await signUp("Page2"), await signUp("Page3")];
      const all = (await client.listAccounts({ skip: 0, take: 100 }, bearer(adminToken))).accounts;
      const positions = made.map((m) => all.findIndex((a) => a.id === m.account.id));
      expect(positions.every((p) => p >= 0)).toBe(true);
      expect([...positions].sort((x, y) => x - y)).toEqual(positions);
      const second = (await client.listAccounts({ skip: 1, take: 1 }, bearer(adminToken))).accounts;
      expect(second.map((a) => a.id)).toEqual([all[1]?.id]);
      const defaults = (await client.listAccounts({}, bearer(adminToken))).accounts;
      expect(defaults.length).toBe(Math.min(20, all.length));
    });

    it("refuses customers and anonymous callers", async () => {
      const { token } = await signUp("Nosy");
      expect((await rejection(client.listAccounts({}, bearer(token)))).code).toBe(
        Code.PermissionDenied,
      );
      expect((await rejection(client.listAccounts({}))).code).toBe(Code.Unauthenticated);
    });

    it.each([
      [{ skip: -1, take: 10 }, /skip: must be 0 or more/],
      [{ skip: 0, take: 101 }, /take: must be 1 to 100/],
      [{ skip: 0, take: -5 }, /take: must be 1 to 100/],
    ])("validates %j", async (request, message) => {
      const error = await rejection(client.listAccounts(request, bearer(adminToken)));
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toMatch(message);
    });
  });

  describe("UpdateAccount", () => {
    it("renames an account for itself", async () => {
      const { account, token } = await signUp("Old Name");
      const { account: updated } = await client.updateAccount(
        { id: account.id, name: " New Name " },
        bearer(token),
      );
      expect(updated?.name).toBe("New Name");
      expect((await client.getAccount({ id: account.id }, bearer(token))).account?.name).toBe(
        "New Name",
      );
    });

    it("changes a password only with the current one", async () => {
      const { account, token, email, password } = await signUp("Changer");
      const missing = await rejection(
        client.updateAccount({ id: account.id, newPassword: "brand-new-pass" }, bearer(token)),
      );
      expect(missing.code).toBe(Code.InvalidArgument);
      expect(missing.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field).toBe(
        "current_password",
      );
      const wrong = await rejection(
        client.updateAccount(
          { id: account.id, newPassword: "brand-new-pass", currentPassword: "not-it-at-all" },
          bearer(token),
        ),
      );
      expect(wrong.code).toBe(Code.InvalidArgument);
      expect(wrong.rawMessage).toMatch(/current_password: is not the current password/);
      await client.updateAccount(
        { id: account.id, newPassword: "brand-new-pass", currentPassword: password },
        bearer(token),
      );
      expect((await rejection(client.login({ email, password }))).code).toBe(Code.Unauthenticated);
      expect((await client.login({ email, password: "brand-new-pass" })).account?.id).toBe(
        account.id,
      );
    });

    it("lets an admin reset another account's password without knowing it", async () => {
      const { account, email } = await signUp("Forgetful");
      await client.updateAccount(
        { id: account.id, newPassword: "reset-by-admin" },
        bearer(adminToken),
      );
      expect((await client.login({ email, password: "reset-by-admin" })).account?.id).toBe(
        account.id,
      );
    });

    it("refuses changing someone else, and services changing anyone", async () => {
      const a = await signUp("Mallory");
      const b = await signUp("Victim");
      const other = await rejection(
        client.updateAccount({ id: b.account.id, name: "Pwned" }, bearer(a.token)),
      );
      expect(other.code).toBe(Code.PermissionDenied);
      const service = await rejection(
        client.updateAccount(
          { id: b.account.id, name: "Pwned" },
          bearer(await authority.issueServiceToken("order")),
        ),
      );
      expect(service.code).toBe(Code.PermissionDenied);
      const anonymous = await rejection(client.updateAccount({ id: b.account.id, name: "Pwned" }));
      expect(anonymous.code).toBe(Code.Unauthenticated);
      expect((await client.getAccount({ id: b.account.id }, bearer(b.token))).account?.name).toBe(
        "Victim",
      );
    });

    it("validates the new name and password", async () => {
      const { account, token } = await signUp("Validated");
      const error = await rejection(
        client.updateAccount(
          { id: account.id, name: "", newPassword: "short", currentPassword: "x" },
          bearer(token),
        ),
      );
      expect(error.code).toBe(Code.InvalidArgument);
      expect(
        error
          .findDetails(BadRequestSchema)[0]
          ?.fieldViolations.map((v) => v.field)
          .sort(),
      ).toEqual(["name", "new_password"]);
    });

    it("says NOT_FOUND when an admin updates an unknown account", async () => {
      const error = await rejection(
        client.updateAccount(
          { id: "01900000-0000-7000-8000-000000000000", name: "Ghost" },
          bearer(adminToken),
        ),
      );
      expect(error.code).toBe(Code.NotFound);
    });
  });

  describe("tokens", () => {
    const expectUnauthenticated = async (token: string, message: RegExp) => {
      const error = await rejection(client.listAccounts({}, bearer(token)));
      expect(error.code).toBe(Code.Unauthenticated);
      expect(error.rawMessage).toMatch(message);
    };

    it("refuses a token signed with another key under the account's key id", async () => {
      const forger = new TestAuthority();
      const stolenKid = authority.keys.account.key.kid;
      const token = await new SignJWT({ typ: "user", role: "admin", ver: 0 })
        .setProtectedHeader({ alg: "EdDSA", kid: stolenKid })
        .setIssuer("bazaar")
        .setAudience("bazaar")
        .setSubject(crypto.randomUUID())
        .setExpirationTime("1h")
        .sign(forger.keys.account.key.privateKey);
      await expectUnauthenticated(token, /signature is invalid/);
      const own = await forger.issueUserToken(crypto.randomUUID(), "admin", 60);
      await expectUnauthenticated(own.token, /unknown key/);
    });

    it("refuses an expired token", async () => {
      const token = await new SignJWT({ typ: "user", role: "admin", ver: 0 })
        .setProtectedHeader({ alg: "EdDSA", kid: authority.keys.account.key.kid })
        .setIssuer("bazaar")
        .setAudience("bazaar")
        .setSubject(crypto.randomUUID())
        .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
        .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
        .sign(authority.keys.account.key.privateKey);
      await expectUnauthenticated(token, /expired/);
    });

    it("refuses a token that is not a JWT", async () => {
      await expectUnauthenticated("not.a.jwt", /malformed/);
    });

    it("refuses an Authorization header that is not a bearer token", async () => {
      const error = await rejection(
        client.listAccounts({}, { headers: { authorization: "Basic YWRtaW46YWRtaW4=" } }),
      );
      expect(error.code).toBe(Code.Unauthenticated);
      expect(error.rawMessage).toMatch(/Bearer/);
    });
  });
});
