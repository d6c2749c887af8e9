// The account service under test: a migrated test database, its store, the routes behind the
// platform's in-memory router transport and a client. Other services' tests compose it.
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import type { TestAuthority } from "../../platform/auth/auth-testing.js";
import type { DatabaseHandle } from "../../platform/data/database.js";
import { openTestDatabase, routerTransport, testAuthority } from "../../platform/testing.js";
import { migrationsFolder } from "./config.js";
import * as schema from "./schema.js";
import { accountRoutes } from "./service.js";
import { AccountStore } from "./store.js";
import { FailureThrottle, RateLimit } from "./throttle.js";

/** Every service's keys, shared by a test file's services and clients. */
export type TestAuth = ReturnType<typeof testAuthority>;

export interface AccountTestbed {
  database: DatabaseHandle<typeof schema>;
  store: AccountStore;
  authority: TestAuthority;
  throttle: FailureThrottle;
  signups: RateLimit;
  transport: Transport;
  client: Client<typeof AccountService>;
  close(): Promise<void>;
}

export async function openAccountTestbed(
  options: {
    auth?: TestAuth;
    /** Wrong passwords allowed before the waits start, and the longest wait. */
    throttle?: { maxFailures: number; maxDelayMs: number };
    /** Sign-ups per client address and window. */
    signups?: { max: number; windowMs: number };
    tokenTtlSeconds?: number;
  } = {},
): Promise<AccountTestbed> {
  const { authority } = options.auth ?? testAuthority();
  const database = await openTestDatabase({ schema, migrationsFolder });
  const store = new AccountStore(database.db);
  const limits = { maxFailures: 1000, maxDelayMs: 60_000, ...options.throttle };
  const throttle = new FailureThrottle(database.db, limits.maxFailures, limits.maxDelayMs);
  const window = { max: 1_000_000, windowMs: 60_000, ...options.signups };
  const signups = new RateLimit(database.db, window.max, window.windowMs);
  const transport = routerTransport(
    accountRoutes({
      store,
      signer: authority.signer("account"),
      tokenTtlSeconds: options.tokenTtlSeconds ?? 3600,
      throttle,
      signups,
    }),
    // As in the real service: user tokens are checked against the account's token version.
    authority.verifier(async (id, version) => version >= (await store.tokenVersion(id))),
  );
  return {
    database,
    store,
    authority,
    throttle,
    signups,
    transport,
    client: createClient(AccountService, transport),
    close: () => database.close(),
  };
}
