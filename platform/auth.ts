// Identity: signed, expiring bearer tokens (HS256 JWTs via jose) for users and for services.
// Every service verifies tokens itself; handlers ask the caller from the context values.
import { randomBytes } from "node:crypto";
import { link, readFile, unlink, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import {
  Code,
  ConnectError,
  createContextKey,
  type HandlerContext,
  type Interceptor,
} from "@connectrpc/connect";
import { errors, jwtVerify, SignJWT } from "jose";
import { ConfigError } from "./config.js";
import { ensurePrivateDir, ensurePrivateFile } from "./private-files.js";

/** The roles an account can have; the account table's role column takes these values. */
export const roles = ["customer", "admin"] as const;
export type Role = (typeof roles)[number];

export type Caller =
  | { kind: "anonymous" }
  | { kind: "user"; accountId: string; role: Role }
  | { kind: "service"; service: string };

export const kCaller = createContextKey<Caller>({ kind: "anonymous" }, { description: "caller" });

/** The services that may hold a service identity; a token naming any other is refused. */
export const serviceNames = ["account", "catalog", "order", "gateway"] as const;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const issuer = "bazaar";
const audience = "bazaar";
const serviceTokenSeconds = 120;

export class TokenAuthority {
  readonly #key: Uint8Array;

  constructor(secret: Uint8Array) {
    this.#key = secret;
  }

  async issueUserToken(
    accountId: string,
    role: Role,
    ttlSeconds: number,
  ): Promise<{ token: string; expiresAt: Date }> {
    const expiresAt = new Date((Math.floor(Date.now() / 1000) + ttlSeconds) * 1000);
    const token = await new SignJWT({ typ: "user", role })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(accountId)
      .setIssuedAt()
      .setExpirationTime(expiresAt)
      .sign(this.#key);
    return { token, expiresAt };
  }

  /** A short-lived token that says "this is the `service` service", for internal calls. */
  async issueServiceToken(service: string, ttlSeconds = serviceTokenSeconds): Promise<string> {
    return new SignJWT({ typ: "service" })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(`service:${service}`)
      .setIssuedAt()
      .setExpirationTime(`${ttlSeconds}s`)
      .sign(this.#key);
  }

  /** The caller a token names; throws UNAUTHENTICATED saying what is wrong with it. */
  async verify(token: string): Promise<Caller> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        issuer,
        audience,
        algorithms: ["HS256"],
        requiredClaims: ["exp", "sub"],
      }));
    } catch (error) {
      throw new ConnectError(tokenProblem(error), Code.Unauthenticated);
    }
    // A signed token is trusted for who it names, not for the shape of what it says: a subject
    // that is not an account id would otherwise reach SQL as one.
    const subject = String(payload.sub);
    if (payload.typ === "service") {
      const service = subject.slice("service:".length);
      if (!subject.startsWith("service:") || !isServiceName(service)) {
        throw new ConnectError("access token names an unknown service", Code.Unauthenticated);
      }
      return { kind: "service", service };
    }
    if (payload.typ === "user") {
      if (!uuidPattern.test(subject)) {
        throw new ConnectError(
          'access token claim "sub" is not an account id',
          Code.Unauthenticated,
        );
      }
      if (payload.role !== "customer" && payload.role !== "admin") {
        throw new ConnectError('access token claim "role" is unknown', Code.Unauthenticated);
      }
      return { kind: "user", accountId: subject.toLowerCase(), role: payload.role };
    }
    throw new ConnectError("access token has unknown claims", Code.Unauthenticated);
  }

  /** A function giving a valid service token, re-minted shortly before the last one expires. */
  serviceTokenSource(service: string): () => Promise<string> {
    let cached: { token: string; renewAt: number } | undefined;
    return async () => {
      if (!cached || Date.now() >= cached.renewAt) {
        const token = await this.issueServiceToken(service);
        cached = { token, renewAt: Date.now() + (serviceTokenSeconds - 30) * 1000 };
      }
      return cached.token;
    };
  }
}

function isServiceName(name: string): boolean {
  return (serviceNames as readonly string[]).includes(name);
}

function tokenProblem(error: unknown): string {
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
      req.contextValues.set(kCaller, await authority.verify(match[1]));
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

/** Internal RPCs: only a service identity, never a user token, whatever its role. */
export function requireService(ctx: HandlerContext): Extract<Caller, { kind: "service" }> {
  const caller = callerOf(ctx);
  if (caller.kind === "service") return caller;
  if (caller.kind === "anonymous") throw unauthenticated();
  throw new ConnectError(
    "this is an internal call: only services may make it",
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

/**
 * The signing secret. Production requires AUTH_SECRET of at least 32 bytes. Elsewhere an unset
 * AUTH_SECRET means one development secret shared by every local process through `file`,
 * made by whichever process starts first.
 */
export async function resolveAuthSecret(options: {
  secret: string | undefined;
  production: boolean;
  file: string;
}): Promise<Uint8Array> {
  if (options.secret !== undefined) {
    const bytes = new TextEncoder().encode(options.secret);
    if (options.production && bytes.length < 32) {
      throw new ConfigError(
        `invalid configuration:\n  AUTH_SECRET must be at least 32 bytes in production (got ${bytes.length})`,
      );
    }
    return bytes;
  }
  if (options.production) {
    throw new ConfigError(
      "invalid configuration:\n  AUTH_SECRET must be set (at least 32 random bytes) in production",
    );
  }
  return new TextEncoder().encode(await sharedDevSecret(options.file));
}

async function sharedDevSecret(file: string): Promise<string> {
  await ensurePrivateDir(dirname(file));
  try {
    const secret = (await readFile(file, "utf8")).trim();
    await ensurePrivateFile(file);
    return secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  // Write aside, then link into place: link fails if another process won the race, and
  // nobody ever reads a half-written file.
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString("hex")}`;
  await writeFile(temporary, randomBytes(32).toString("base64url"), { mode: 0o600 });
  try {
    await link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    await unlink(temporary);
  }
  return (await readFile(file, "utf8")).trim();
}
