// Configuration from the environment, parsed once at start-up with valibot. A bad value stops
// the process with a message naming the variable, rather than failing later at first use.
// Each variable says what it is for (`described`): docs/configuration.md is made from that.
import { isIP } from "node:net";
import * as v from "valibot";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * A variable and what it is for, as `npm run docs` writes it into docs/configuration.md: the
 * schema is the one place a variable is explained. `shownDefault` is for a default that depends
 * on other variables (NODE_ENV) or is filled in elsewhere; otherwise the docs show what the
 * schema makes of an unset variable.
 */
export function described<S extends v.GenericSchema>(
  schema: S,
  description: string,
  shownDefault?: string,
) {
  return v.pipe(schema, v.description(description), v.metadata({ shownDefault }));
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
    NODE_ENV: described(
      v.optional(
        v.picklist(
          ["development", "production", "test"],
          "must be development, production or test",
        ),
        "development",
      ),
      "`development`, `production` or `test`; production refuses development defaults (admin password, keys) and turns off GraphiQL, demo data and localhost CORS",
    ),
    // Unset, it is filled in by parseEnv: it depends on NODE_ENV, which a field cannot see.
    HOST: described(
      v.pipe(v.string(), v.trim(), v.nonEmpty("must be an address to listen on")),
      "listening address",
      "`127.0.0.1` (`0.0.0.0` in production)",
    ),
    PORT: described(
      intVar(defaultPort, 0, 65535),
      "listening port of a process run alone (`npm start` sets it from the `*_PORT` variables)",
    ),
    LOG_LEVEL: described(
      v.optional(
        v.picklist(
          ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
          "must be one of fatal, error, warn, info, debug, trace, silent",
        ),
        "info",
      ),
      "`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`; health and reflection calls log at `debug`",
    ),
    LOG_PRETTY: described(
      boolVar(false),
      "one coloured line per entry instead of JSON",
      "`false` (`npm start` at a terminal: `true`)",
    ),
    SHUTDOWN_GRACE_MS: described(
      intVar(10_000, 0, 600_000),
      "how long in-flight requests may take to finish on SIGTERM",
    ),
    SHUTDOWN_DRAIN_MS: described(
      intVar(0, 0, 120_000),
      "on SIGTERM, how long the process still serves while `/readyz` already fails, so that a balancer takes it out of rotation before it stops accepting (Kubernetes: 5000)",
    ),
  };
}

/** Variables every service process reads: the process's own, its database, auth and CORS. */
export function baseEntries(_service: string, defaultPort: number) {
  return {
    ...processEntries(defaultPort),
    DATABASE_URL: described(
      optionalVar(postgresUrl),
      "`postgres://…`: the service's own database (`?host=/dir` names a Unix socket directory); **required** when run alone",
      "set by `npm start`",
    ),
    DATABASE_POOL_MAX: described(intVar(10, 1, 1000), "connections in the service's pool"),
    // Both required in production (platform/auth/keys.ts).
    AUTH_PRIVATE_KEY: described(
      optionalVar(v.string()),
      "this service's private Ed25519 JWK; **required in production** (see [security](security.md))",
      "a key made under `AUTH_KEYS_DIR`",
    ),
    AUTH_PUBLIC_KEYS: described(
      optionalVar(v.string()),
      "the JWK Set of the public keys it trusts; **required in production**",
      "the keys under `AUTH_KEYS_DIR`",
    ),
    AUTH_KEYS_DIR: described(
      v.optional(v.pipe(v.string(), v.minLength(1)), ".data/keys"),
      "where development keys are made and kept when `AUTH_PRIVATE_KEY` and `AUTH_PUBLIC_KEYS` are unset",
    ),
    CORS_ORIGINS: described(
      optionalVar(v.string()),
      "comma-separated browser origins allowed to call it, e.g. `https://shop.example.com`",
      "any `localhost` origin (none in production)",
    ),
    // From anyone else the header is ignored.
    TRUSTED_PROXIES: described(
      optionalVar(
        v.pipe(
          v.string(),
          v.check(
            (s) => s.split(",").every((item) => isIpOrCidr(item.trim())),
            "must be comma-separated IP addresses or CIDR ranges such as 10.0.0.0/8",
          ),
        ),
      ),
      "addresses or CIDRs (comma-separated) of proxies whose `X-Forwarded-For` names the client (the gateway's, an ingress's)",
      "none",
    ),
    MAX_MESSAGE_BYTES: described(
      intVar(4 * 1024 * 1024, 1024, 64 * 1024 * 1024),
      "largest request message",
    ),
    ...eventEntries(),
  };
}

/**
 * Domain events (platform/events): every service records them in its outbox; with NATS_URL
 * set its relay publishes them to JetStream. Published rows (all rows, without NATS_URL) are
 * pruned after OUTBOX_RETENTION_HOURS.
 */
export function eventEntries() {
  return {
    NATS_URL: described(
      optionalVar(
        v.pipe(
          v.string(),
          v.check(
            (s) =>
              s
                .split(",")
                .every(
                  (url) => /^(nats|tls):\/\/\S+$/.test(url.trim()) && URL.canParse(url.trim()),
                ),
            "must be nats:// URLs (comma-separated for several servers) such as nats://localhost:4222",
          ),
        ),
      ),
      "NATS server(s) whose JetStream receives this service's domain events (see [events](events.md)); unset: events are recorded in the outbox, not published",
      "unset",
    ),
    OUTBOX_RETENTION_HOURS: described(
      intVar(24, 1, 24 * 365),
      "how long outbox rows are kept: published ones (all of them without `NATS_URL`); Watch cursors resume within it",
    ),
    OUTBOX_RELAY_INTERVAL_MS: described(
      intVar(200, 10, 60_000),
      "how often the relay looks for new events once the outbox is drained",
    ),
  };
}

/**
 * What a service that checks user tokens against the account service reads: where it is, and
 * how long a learned token version is trusted (how long a revoked token may still work here).
 */
export function tokenVersionEntries(accountUrl: string) {
  return {
    ACCOUNT_URL: described(peerUrlVar(accountUrl), "where the account service is"),
    TOKEN_VERSION_CACHE_SECONDS: described(
      intVar(30, 0, 3600),
      "how long a learned token version is trusted: how long a revoked token may still work here",
    ),
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
