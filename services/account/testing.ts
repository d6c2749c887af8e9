// The account service under test: a migrated test database, its store, the routes behind the
// platform's in-memory router transport and a client. Other services' tests compose it.
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import type { TokenAuthority } from "../../platform/auth.js";
import type { DatabaseHandle } from "../../platform/database.js";
import {
  type DatabaseKind,
  openTestDatabase,
  routerTransport,
  testAuthority,
} from "../../platform/testing.js";
import { migrationsFolder } from "./config.js";
import { LoginThrottle } from "./domain.js";
import * as schema from "./schema.js";
import { accountRoutes } from "./service.js";
import { AccountStore } from "./store.js";

/** A secret and the token authority over it, shared by a test file's services and clients. */
export type TestAuth = ReturnType<typeof testAuthority>;

export interface AccountTestbed {
  database: DatabaseHandle<typeof schema>;
  store: AccountStore;
  authority: TokenAuthority;
  /** The secret behind `authority` (to forge tokens it must refuse). */
  secret: string;
  throttle: LoginThrottle;
  transport: Transport;
  client: Client<typeof AccountService>;
  close(): Promise<void>;
}

export async function openAccountTestbed(
  kind: DatabaseKind,
  options: { auth?: TestAuth; throttle?: LoginThrottle; tokenTtlSeconds?: number } = {},
): Promise<AccountTestbed> {
  const { secret, authority } = options.auth ?? testAuthority();
  const database = await openTestDatabase(kind, { schema, migrationsFolder });
  const store = new AccountStore(database.db);
  const throttle = options.throttle ?? new LoginThrottle(1000, 60_000);
  const transport = routerTransport(
    accountRoutes({
      store,
      authority,
      tokenTtlSeconds: options.tokenTtlSeconds ?? 3600,
      throttle,
    }),
    authority,
  );
  return {
    database,
    store,
    authority,
    secret,
    throttle,
    transport,
    client: createClient(AccountService, transport),
    close: () => database.close(),
  };
}
