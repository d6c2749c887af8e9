// Configuration from the environment, parsed once at start-up with valibot. A bad value stops
// the process with a message naming the variable, rather than failing later at first use.
import { isIP } from "node:net";
import * as v from "valibot";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** An integer variable within [min, max], with a default when unset or empty. */
export function intVar(fallback: number, min: number, max: number) {
  return v.pipe(
    v.optional(v.string(), String(fallback)),
    v.transform((s) => (s.trim() === "" ? String(fallback) : s.trim())),
    v.regex(/^-?\d+$/, "must be an integer"),
    v.transform(Number),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
  );
}

/** A boolean variable, or undefined when unset or empty (for defaults that depend on others). */
export function optionalBoolVar() {
  return v.pipe(
    v.optional(v.string(), ""),
    v.transform((s) => s.trim().toLowerCase()),
    v.picklist(["true", "false", "1", "0", "yes", "no", ""], "must be true or false"),
    v.transform((s) => (s === "" ? undefined : ["true", "1", "yes"].includes(s))),
  );
}

export function boolVar(fallback: boolean) {
  return v.pipe(
    optionalBoolVar(),
    v.transform((b) => b ?? fallback),
  );
}

/** An optional string: unset and empty both mean "not given". */
export function optionalVar<T extends v.GenericSchema<string, unknown>>(schema: T) {
  return v.pipe(
    v.optional(v.string()),
    v.transform((s) => (s === undefined || s.trim() === "" ? undefined : s.trim())),
    v.union([v.undefined(), schema]),
  );
}

export const urlVar = v.pipe(v.string(), v.url("must be a URL such as http://localhost:50051"));

const postgresUrl = v.pipe(
  v.string(),
  v.regex(/^postgres(ql)?:\/\/\S+$/, "must be a postgres:// URL"),
  v.check((url) => URL.canParse(url), "must be a postgres:// URL"),
  // `?host=` names the server's Unix socket directory (platform/postgres-connection.ts).
  v.check((url) => {
    const host = URL.canParse(url) ? new URL(url).searchParams.get("host") : null;
    return host === null || host.startsWith("/");
  }, "must name its socket directory (?host=) as an absolute path"),
);

/** Variables every Bazaar process reads, the gateway included. */
export function processEntries(defaultPort: number) {
  return {
    NODE_ENV: v.optional(
      v.picklist(["development", "production", "test"], "must be development, production or test"),
      "development",
    ),
    // Unset, it is filled in by parseEnv: it depends on NODE_ENV, which a field cannot see.
    HOST: v.pipe(v.string(), v.trim(), v.nonEmpty("must be an address to listen on")),
    PORT: intVar(defaultPort, 0, 65535),
    LOG_LEVEL: v.optional(
      v.picklist(
        ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
        "must be one of fatal, error, warn, info, debug, trace, silent",
      ),
      "info",
    ),
    LOG_PRETTY: boolVar(false),
    SHUTDOWN_GRACE_MS: intVar(10_000, 0, 600_000),
    // On SIGTERM, how long a process still serves while its readiness already fails, so that a
    // balancer takes it out of rotation before it stops accepting (Kubernetes: 5000).
    SHUTDOWN_DRAIN_MS: intVar(0, 0, 120_000),
  };
}

/** Variables every service process reads: the process's own, its database, auth and CORS. */
export function baseEntries(_service: string, defaultPort: number) {
  return {
    ...processEntries(defaultPort),
    DATABASE_URL: optionalVar(postgresUrl),
    DATABASE_POOL_MAX: intVar(10, 1, 1000),
    // This service's private Ed25519 JWK, and the JWK Set of the public keys it trusts; both
    // required in production (platform/keys.ts). Unset elsewhere: the keys under AUTH_KEYS_DIR.
    AUTH_PRIVATE_KEY: optionalVar(v.string()),
    AUTH_PUBLIC_KEYS: optionalVar(v.string()),
    AUTH_KEYS_DIR: v.optional(v.pipe(v.string(), v.minLength(1)), ".data/keys"),
    CORS_ORIGINS: optionalVar(v.string()),
    // Proxies whose X-Forwarded-For names the client (addresses or CIDRs, comma-separated),
    // e.g. the gateway's and an ingress's; from anyone else the header is ignored.
    TRUSTED_PROXIES: optionalVar(
      v.pipe(
        v.string(),
        v.check(
          (s) => s.split(",").every((item) => isIpOrCidr(item.trim())),
          "must be comma-separated IP addresses or CIDR ranges such as 10.0.0.0/8",
        ),
      ),
    ),
    MAX_MESSAGE_BYTES: intVar(4 * 1024 * 1024, 1024, 64 * 1024 * 1024),
  };
}

/**
 * What a service that checks user tokens against the account service reads: where it is, and
 * how long a learned token version is trusted (how long a revoked token may still work here).
 */
export function tokenVersionEntries(accountUrl: string) {
  return {
    ACCOUNT_URL: peerUrlVar(accountUrl),
    TOKEN_VERSION_CACHE_SECONDS: intVar(30, 0, 3600),
  };
}

function isIpOrCidr(item: string): boolean {
  const [address = "", bits, extra] = item.split("/");
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
}

/** A peer service's base URL: the default when unset or empty, no trailing slash. */
export function peerUrlVar(fallback: string) {
  return v.pipe(
    v.optional(v.string(), fallback),
    v.transform((s) => (s.trim() === "" ? fallback : s.trim())),
    v.url("must be a URL such as http://localhost:50051"),
    // "account:50051" parses as a URL with the scheme "account:": only http(s) reaches a peer.
    v.regex(/^https?:\/\//i, "must be an http:// or https:// URL such as http://localhost:50051"),
    v.transform((s) => s.replace(/\/+$/, "")),
  );
}

export type BaseConfig = v.InferOutput<v.ObjectSchema<ReturnType<typeof baseEntries>, undefined>>;

/**
 * Parses `env` with `schema`, or throws a ConfigError listing every bad variable at once,
 * e.g. `PORT must be at most 65535 (got "70000")`.
 */
export function parseEnv<S extends v.GenericSchema<Record<string, unknown>, unknown>>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): v.InferOutput<S> {
  const result = v.safeParse(schema, { ...env, HOST: env.HOST?.trim() || defaultHost(env) });
  if (result.success) return result.output;
  const lines = result.issues.map((issue) => {
    const name = v.getDotPath(issue) ?? "environment";
    const raw = env[name];
    const shown =
      raw === undefined ? "unset" : `got ${JSON.stringify(secretLike(name) ? "…" : raw)}`;
    return `  ${name} ${issue.message} (${shown})`;
  });
  throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
}

/**
 * Outside production a process listens on loopback only: a development machine's default
 * admin must not be reachable from its network. Containers set HOST=0.0.0.0 themselves.
 */
function defaultHost(env: Record<string, string | undefined>): string {
  return env.NODE_ENV?.trim() === "production" ? "0.0.0.0" : "127.0.0.1";
}

function secretLike(name: string): boolean {
  return /SECRET|PASSWORD|TOKEN|KEY/.test(name);
}

/** The CORS origin rule: an explicit comma-separated list, or any localhost origin outside production. */
export function corsOrigins(
  config: Pick<BaseConfig, "CORS_ORIGINS" | "NODE_ENV">,
): (string | RegExp)[] {
  if (config.CORS_ORIGINS) {
    return config.CORS_ORIGINS.split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  }
  if (config.NODE_ENV === "production") return [];
  return [/^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/];
}
