// The account service's configuration, from the environment.
import { fileURLToPath } from "node:url";
import * as v from "valibot";
import { secretProblem } from "../../platform/auth/secrets.js";
import { baseEntries, ConfigError, intVar, parseEnv } from "../../platform/config.js";
import { processes } from "../../platform/processes.js";
import { email, password } from "./domain.js";

/** The first admin outside production when ADMIN_EMAIL / ADMIN_PASSWORD are unset. */
export const developmentAdmin = { email: "admin@example.com", password: "bazaar-admin" } as const;

/** This service's committed migrations (drizzle-kit writes them); every opener applies them. */
export const migrationsFolder = fileURLToPath(new URL("./drizzle", import.meta.url));

export const schema = v.object({
  ...baseEntries("account", processes.account.port),
  ADMIN_EMAIL: v.optional(email, developmentAdmin.email),
  ADMIN_PASSWORD: v.optional(password, developmentAdmin.password),
  ADMIN_NAME: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(100)), "Admin"),
  TOKEN_TTL_SECONDS: intVar(3600, 60, 30 * 24 * 3600),
  // Wrong passwords allowed per (email, client address) before each further one doubles the
  // wait (1 s, 2 s, 4 s, …, at most LOGIN_WINDOW_SECONDS); the same for UpdateAccount's
  // current_password per (account, client address).
  LOGIN_MAX_FAILURES: intVar(5, 1, 10_000),
  LOGIN_WINDOW_SECONDS: intVar(900, 1, 86_400),
  // Rows kept at most in each of the two limit tables (login_failures, signup_windows) after
  // each prune, the oldest forgotten first.
  LOGIN_MAX_ENTRIES: intVar(100_000, 100, 10_000_000),
  // Sign-ups allowed per client address in each window.
  SIGNUP_MAX_PER_CLIENT: intVar(20, 1, 1_000_000),
  SIGNUP_WINDOW_SECONDS: intVar(600, 1, 86_400),
});

export type AccountConfig = v.InferOutput<typeof schema>;

export function loadAccountConfig(
  env: Record<string, string | undefined> = process.env,
): AccountConfig {
  const config = parseEnv(schema, env);
  if (config.NODE_ENV === "production") {
    const problem = !env.ADMIN_PASSWORD
      ? "must be set to a non-default password in production"
      : config.ADMIN_PASSWORD === developmentAdmin.password
        ? "must be set to a non-default password in production"
        : secretProblem(config.ADMIN_PASSWORD);
    if (problem) throw new ConfigError(`invalid configuration:\n  ADMIN_PASSWORD ${problem}`);
  }
  return config;
}
