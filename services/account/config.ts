// The account service's configuration, from the environment.
import { fileURLToPath } from "node:url";
import * as v from "valibot";
import { secretProblem } from "../../platform/auth/secrets.js";
import { baseEntries, ConfigError, described, intVar, parseEnv } from "../../platform/config.js";
import { processes } from "../../platform/processes.js";
import { email, password } from "./domain.js";

/** The first admin outside production when ADMIN_EMAIL / ADMIN_PASSWORD are unset. */
export const developmentAdmin = { email: "admin@example.com", password: "bazaar-admin" } as const;

/** This service's committed migrations (drizzle-kit writes them); every opener applies them. */
export const migrationsFolder = fileURLToPath(new URL("./drizzle", import.meta.url));

export const schema = v.object({
  ...baseEntries("account", processes.account.port),
  ADMIN_EMAIL: described(v.optional(email, developmentAdmin.email), "the first admin's email"),
  ADMIN_PASSWORD: described(
    v.optional(password, developmentAdmin.password),
    "the first admin's password; production requires a non-default one",
  ),
  ADMIN_NAME: described(
    v.optional(v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(100)), "Admin"),
    "the first admin's name",
  ),
  TOKEN_TTL_SECONDS: described(intVar(3600, 60, 30 * 24 * 3600), "access token lifetime"),
  LOGIN_MAX_FAILURES: described(
    intVar(5, 1, 10_000),
    "wrong passwords allowed per (email, client address) before each further one doubles the wait (1 s, 2 s, 4 s, …); the same for UpdateAccount's `current_password` per (account, client address)",
  ),
  LOGIN_WINDOW_SECONDS: described(intVar(900, 1, 86_400), "the longest wait after wrong passwords"),
  LOGIN_MAX_ENTRIES: described(
    intVar(100_000, 100, 10_000_000),
    "rows kept at most in each of `login_failures` and `signup_windows` after each 10 s prune (oldest first)",
  ),
  SIGNUP_MAX_PER_CLIENT: described(
    intVar(20, 1, 1_000_000),
    "sign-ups allowed per client address in each `SIGNUP_WINDOW_SECONDS`",
  ),
  SIGNUP_WINDOW_SECONDS: described(intVar(600, 1, 86_400), "the sign-up window"),
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
