// The account service's composition root: config → base → parts → serve.
import { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import { ConfigError } from "../../platform/config.js";
import { type HostedService, openBase } from "../../platform/host.js";
import type { Logger } from "../../platform/observability/logger.js";
import { isEntryPoint, runProcess } from "../../platform/runtime.js";
import { Loop } from "../../platform/worker.js";
import {
  type AccountConfig,
  developmentAdmin,
  loadAccountConfig,
  migrationsFolder,
} from "./config.js";
import { hashPassword, verifyPassword } from "./passwords.js";
import * as schema from "./schema.js";
import { accountRoutes } from "./service.js";
import { AccountStore } from "./store.js";
import { FailureThrottle, pruneIntervalMs, RateLimit } from "./throttle.js";

export async function startAccountService(
  config: AccountConfig,
  options: { logger?: Logger } = {},
): Promise<HostedService<typeof schema>> {
  const base = await openBase(config, {
    name: "account",
    schema,
    migrationsFolder,
    logger: options.logger,
    // The account service owns the versions: it checks every user token against its table.
    tokenVersions: ({ database }) => {
      const versions = new AccountStore(database.db);
      return async (accountId, version) => version >= (await versions.tokenVersion(accountId));
    },
  });
  const store = new AccountStore(base.database.db);
  const limits = { maxEntries: config.LOGIN_MAX_ENTRIES };
  const throttle = new FailureThrottle(
    base.database.db,
    config.LOGIN_MAX_FAILURES,
    config.LOGIN_WINDOW_SECONDS * 1000,
    limits,
  );
  const signups = new RateLimit(
    base.database.db,
    config.SIGNUP_MAX_PER_CLIENT,
    config.SIGNUP_WINDOW_SECONDS * 1000,
    limits,
  );
  await ensureAdmin(store, config, base.logger).catch(base.abort);
  if (config.NODE_ENV === "production") await refuseDevelopmentAdmin(store).catch(base.abort);
  return base.serve({
    services: [AccountService],
    routes: accountRoutes({
      store,
      signer: base.signer,
      tokenTtlSeconds: config.TOKEN_TTL_SECONDS,
      throttle,
      signups,
    }),
    // On every replica: a prune deletes only what expired or overflowed, so two at once agree.
    workers: [
      new Loop({
        name: "guessing-limits prune",
        intervalMs: pruneIntervalMs,
        logger: base.logger,
        pass: async () => {
          await throttle.prune();
          await signups.prune();
        },
      }),
    ],
  });
}

/**
 * Data first used in development keeps its `admin@example.com / bazaar-admin`: production
 * refuses to start while any admin's password is still that published default.
 */
async function refuseDevelopmentAdmin(store: AccountStore): Promise<void> {
  for (const admin of await store.listAdmins()) {
    if (await verifyPassword(admin.passwordHash, developmentAdmin.password)) {
      throw new ConfigError(
        `invalid configuration:\n  the admin account ${admin.email} still has the development password "${developmentAdmin.password}": change it (UpdateAccount) before starting in production`,
      );
    }
  }
}

/** The first admin, created once from ADMIN_EMAIL / ADMIN_PASSWORD; later starts leave it alone. */
async function ensureAdmin(
  store: AccountStore,
  config: AccountConfig,
  logger: Logger,
): Promise<void> {
  if (await store.findByEmail(config.ADMIN_EMAIL)) return;
  const created = await store.createIfAbsent({
    name: config.ADMIN_NAME,
    email: config.ADMIN_EMAIL,
    role: "admin",
    passwordHash: await hashPassword(config.ADMIN_PASSWORD),
  });
  if (!created) return;
  const isDefault = config.ADMIN_PASSWORD === developmentAdmin.password;
  logger.info(
    { email: config.ADMIN_EMAIL },
    isDefault
      ? `created the first admin: ${config.ADMIN_EMAIL} / ${developmentAdmin.password} (development default; set ADMIN_PASSWORD)`
      : `created the first admin: ${config.ADMIN_EMAIL}`,
  );
}

if (isEntryPoint(import.meta.url)) {
  await runProcess("account", async () => {
    const config = loadAccountConfig();
    const service = await startAccountService(config);
    if (config.ADMIN_PASSWORD === developmentAdmin.password) {
      service.logger.warn(
        `development admin: ${config.ADMIN_EMAIL} / ${developmentAdmin.password} — log in with these; never use them in production`,
      );
    }
    return service;
  });
}
