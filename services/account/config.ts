// The account service's configuration, from the environment.
import { fileURLToPath } from "node:url";
import * as v from "valibot";
import { baseEntries, ConfigError, intVar, parseEnv } from "../../platform/config.js";
import { processes } from "../../platform/processes.js";
import { email, password } from "./domain.js";

/** The first admin outside production when ADMIN_EMAIL / ADMIN_PASSWORD are unset. */
export const developmentAdmin = { email: "admin@example.com", password: "bazaar-admin" } as const;

/** This service's committed migrations (drizzle-kit writes them); every opener applies them. */
export const migrationsFolder = fileURLToPath(new URL("./drizzle", import.meta.url));

const schema = v.object({
  ...baseEntries("account", processes.account.port),
  ADMIN_EMAIL: v.optional(email, developmentAdmin.email),
  ADMIN_PASSWORD: v.optional(password, developmentAdmin.password),
  ADMIN_NAME: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(100)), "Admin"),
  TOKEN_TTL_SECONDS: intVar(3600, 60, 30 * 24 * 3600),
  LOGIN_MAX_FAILURES: intVar(10, 1, 10_000),
  LOGIN_WINDOW_SECONDS: intVar(900, 1, 86_400),
});

export type AccountConfig = v.InferOutput<typeof schema>;

export function loadAccountConfig(
  env: Record<string, string | undefined> = process.env,
): AccountConfig {
  const config = parseEnv(schema, env);
  if (
    config.NODE_ENV === "production" &&
    (!env.ADMIN_PASSWORD || config.ADMIN_PASSWORD === developmentAdmin.password)
  ) {
    throw new ConfigError(
      "invalid configuration:\n  ADMIN_PASSWORD must be set to a non-default password in production",
    );
  }
  return config;
}
