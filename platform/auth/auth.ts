// Identity: signed, expiring bearer tokens (EdDSA JWTs via jose). Only the account service signs
// user tokens; each service signs its own short-lived service tokens with its own key; every
// service verifies with the public keys it trusts (platform/auth/keys.ts).
import {
  Code,
  ConnectError,
  createContextKey,
  type HandlerContext,
  type Interceptor,
} from "@connectrpc/connect";
import { errors, jwtVerify, SignJWT } from "jose";
import { uuidPattern } from "../data/ids.js";
import { Lru } from "../lru.js";
import type { KeySet, ServiceName, SigningKey } from "./keys.js";

/** The roles an account can have; the account table's role column takes these values. */
export const roles = ["customer", "admin"] as const;
export type Role = (typeof roles)[number];

export type Caller =
  | { kind: "anonymous" }
  | { kind: "user"; accountId: string; role: Role }
  | { kind: "service"; service: ServiceName };

export const kCaller = createContextKey<Caller>({ kind: "anonymous" }, { description: "caller" });

/** When the call's token expires (ms since the epoch); undefined without a token. A stream ends then. */
export const kTokenExpiresAt = createContextKey<number | undefined>(undefined, {
  description: "token expiry",
});

const issuer = "bazaar";
const audience = "bazaar";
const serviceTokenSeconds = 120;

/** A verified token: the caller it names, and when it expires (ms since the epoch). */
export interface Authenticated {
  caller: Caller;
  expiresAtMs: number;
}

/** What the auth interceptor needs: the caller a bearer token names, and until when. */
export interface TokenAuthority {
  authenticate(token: string): Promise<Authenticated>;
}

/**
 * Whether a user token's version (`ver`) is still current for its account: a password change
 * bumps the version and so revokes every older token.
 */
export type TokenVersionCheck = (accountId: string, version: number) => Promise<boolean>;

/** Signs with this service's own key: its service tokens, and in the account service user tokens. */
export class TokenSigner {
  constructor(readonly key: SigningKey) {}

  get service(): ServiceName {
    return this.key.service;
  }

  /** A user token; only tokens signed with the account service's key are accepted anywhere. */
  async issueUserToken(
    accountId: string,
    role: Role,
    version: number,
    ttlSeconds: number,
  ): Promise<{ token: string; expiresAt: Date }> {
    const expiresAt = new Date((Math.floor(Date.now() / 1000) + ttlSeconds) * 1000);
    const token = await this.#sign({ typ: "user", role, ver: version }, accountId, expiresAt);
    return { token, expiresAt };
  }

  /** A short-lived token that says "this is the `service` service", for internal calls. */
  issueServiceToken(ttlSeconds = serviceTokenSeconds): Promise<string> {
    const expiresAt = new Date((Math.floor(Date.now() / 1000) + ttlSeconds) * 1000);
    return this.#sign({ typ: "service" }, `service:${this.key.service}`, expiresAt);
  }

  /** A function giving a valid service token, re-minted shortly before the last one expires. */
  serviceTokenSource(): () => Promise<string> {
    let cached: { token: string; renewAt: number } | undefined;
    return async () => {
      if (!cached || Date.now() >= cached.renewAt) {
        const token = await this.issueServiceToken();
        cached = { token, renewAt: Date.now() + (serviceTokenSeconds - 30) * 1000 };
      }
      return cached.token;
    };
  }

  #sign(claims: Record<string, unknown>, subject: string, expiresAt: Date): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: "EdDSA", typ: "JWT", kid: this.key.kid })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(subject)
      .setIssuedAt()
      .setExpirationTime(expiresAt)
      .sign(this.key.privateKey);
  }
}

interface Verified extends Authenticated {
  version: number;
}

/**
 * Checks tokens against the trusted public keys. A token verified once is remembered until it
 * expires (at most `cacheSize` of them, the least recently used forgotten first): a signature
 * check per distinct token, a map lookup per call. The version check runs on every call.
 */
export class TokenVerifier implements TokenAuthority {
  readonly #verified: Lru<Verified>;

  constructor(
    private readonly keys: KeySet,
    private readonly options: { versions?: TokenVersionCheck; cacheSize?: number } = {},
  ) {
    this.#verified = new Lru(options.cacheSize ?? 10_000);
  }

  /** The caller a token names; throws UNAUTHENTICATED saying what is wrong with it. */
  async verify(token: string): Promise<Caller> {
    return (await this.authenticate(token)).caller;
  }

  /** `verify`, with the token's expiry. */
  async authenticate(token: string): Promise<Authenticated> {
    const verified = await this.#verifiedToken(token);
    const { caller } = verified;
    if (caller.kind === "user" && this.options.versions) {
      if (!(await this.options.versions(caller.accountId, verified.version))) {
        throw new ConnectError(
          "access token was revoked (the password changed); log in again",
          Code.Unauthenticated,
        );
      }
    }
    return verified;
  }

  async #verifiedToken(token: string): Promise<Verified> {
    const cached = this.#verified.get(token);
    if (cached && cached.expiresAtMs > Date.now()) return cached;
    const verified = await this.#check(token);
    this.#verified.set(token, verified);
    return verified;
  }

  async #check(token: string): Promise<Verified> {
    let signer: ServiceName | undefined;
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(
        token,
        async (header) => {
          const found = header.kid ? await this.keys.get(header.kid) : undefined;
          if (!found) throw new UnknownKey();
          signer = found.service;
          return found.key;
        },
        { issuer, audience, algorithms: ["EdDSA"], requiredClaims: ["exp", "sub"] },
      ));
    } catch (error) {
      throw new ConnectError(tokenProblem(error), Code.Unauthenticated);
    }
    const caller = claimsCaller(payload, signer);
    const version = typeof payload.ver === "number" ? payload.ver : -1;
    return { caller, version, expiresAtMs: Number(payload.exp) * 1000 };
  }
}

class UnknownKey extends Error {}

/** The caller a verified token's claims name, given whose key signed it. */
function claimsCaller(payload: Record<string, unknown>, signer: ServiceName | undefined): Caller {
  const subject = String(payload.sub);
  if (payload.typ === "service" && subject === `service:${signer}`) {
    return { kind: "service", service: signer as ServiceName };
  }
  if (
    payload.typ === "user" &&
    signer === "account" &&
    (payload.role === "customer" || payload.role === "admin") &&
    uuidPattern.test(subject) &&
    Number.isSafeInteger(payload.ver) &&
    (payload.ver as number) >= 0
  ) {
    return { kind: "user", accountId: subject.toLowerCase(), role: payload.role };
  }
  throw new ConnectError(
    payload.typ === "user" && signer !== "account"
      ? "access token was not signed by the account service"
      : payload.typ === "service"
        ? "service token's subject does not match its signing key"
        : "access token has unknown claims",
    Code.Unauthenticated,
  );
}

function tokenProblem(error: unknown): string {
  if (error instanceof UnknownKey) return "access token is signed by an unknown key";
  if (error instanceof errors.JWTExpired) return "access token expired";
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return "access token signature is invalid";
  if (error instanceof errors.JWTClaimValidationFailed)
    return `access token claim "${error.claim}" is invalid`;
  if (error instanceof errors.JOSEAlgNotAllowed) return "access token algorithm is not allowed";
  return "access token is malformed";
}

/** Verifies the bearer token, if any, and puts the caller into the context values. */
export function authInterceptor(authority: TokenAuthority): Interceptor {
  return (next) => async (req) => {
    const header = req.header.get("authorization");
    if (header !== null) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!match?.[1]) {
        throw new ConnectError(
          'authorization header must be "Bearer <access token>"',
          Code.Unauthenticated,
        );
      }
      const { caller, expiresAtMs } = await authority.authenticate(match[1]);
      req.contextValues.set(kCaller, caller);
      req.contextValues.set(kTokenExpiresAt, expiresAtMs);
    }
    return next(req);
  };
}

export function callerOf(ctx: HandlerContext): Caller {
  return ctx.values.get(kCaller);
}

/** Any authenticated caller, user or service; anonymous callers get UNAUTHENTICATED. */
export function requireCaller(ctx: HandlerContext): Exclude<Caller, { kind: "anonymous" }> {
  const caller = callerOf(ctx);
  if (caller.kind === "anonymous") throw unauthenticated();
  return caller;
}

/** The calling user; anonymous callers get UNAUTHENTICATED, services PERMISSION_DENIED. */
export function requireUser(ctx: HandlerContext): Extract<Caller, { kind: "user" }> {
  const caller = callerOf(ctx);
  if (caller.kind === "user") return caller;
  if (caller.kind === "anonymous") throw unauthenticated();
  throw new ConnectError("this call needs a user's access token", Code.PermissionDenied);
}

export function requireAdmin(ctx: HandlerContext): void {
  const caller = callerOf(ctx);
  if (caller.kind === "anonymous") throw unauthenticated();
  if (caller.kind === "user" && caller.role === "admin") return;
  throw new ConnectError("only an admin may do this", Code.PermissionDenied);
}

/**
 * Internal RPCs: only the named services, never a user token whatever its role. Each internal
 * RPC names the callers it accepts.
 */
export function requireService(
  ctx: HandlerContext,
  ...allowed: readonly ServiceName[]
): Extract<Caller, { kind: "service" }> {
  const caller = callerOf(ctx);
  if (caller.kind === "anonymous") throw unauthenticated();
  if (caller.kind === "service" && (allowed as readonly string[]).includes(caller.service)) {
    return caller;
  }
  throw new ConnectError(
    `this is an internal call: only the ${allowed.join(" or ")} service may make it`,
    Code.PermissionDenied,
  );
}

/** Whether the caller may act for `accountId`: the account itself, an admin, or a service. */
export function mayActFor(caller: Caller, accountId: string): boolean {
  if (caller.kind === "service") return true;
  return caller.kind === "user" && (caller.role === "admin" || caller.accountId === accountId);
}

function unauthenticated(): ConnectError {
  return new ConnectError(
    "this call needs an access token (Authorization: Bearer …)",
    Code.Unauthenticated,
  );
}
