// The catalog service's configuration, from the environment.
import { fileURLToPath } from "node:url";
import * as v from "valibot";
import {
  baseEntries,
  boolVar,
  described,
  intVar,
  optionalVar,
  parseEnv,
  peerUrlVar,
  tokenVersionEntries,
  urlVar,
} from "../../platform/config.js";
import { liveEntries } from "../../platform/events/live.js";
import { localUrl, processes } from "../../platform/processes.js";

/** This service's committed migrations (drizzle-kit writes them); every opener applies them. */
export const migrationsFolder = fileURLToPath(new URL("./drizzle", import.meta.url));

export const schema = v.object({
  ...baseEntries("catalog", processes.catalog.port),
  // Admin tokens are checked against the account service's token versions (revocation).
  ...tokenVersionEntries(localUrl("account")),
  RESERVATION_TTL_SECONDS: described(
    intVar(900, 1, 7 * 24 * 3600),
    "a reservation neither committed nor released is, after this, settled on the order service's word (`GetOrderOutcome`; see sweeper.ts)",
  ),
  SWEEP_INTERVAL_SECONDS: described(
    intVar(30, 1, 3600),
    "how often the sweeper looks for expired reservations",
  ),
  ORDER_URL: described(
    peerUrlVar(localUrl("order")),
    "where the order service is (the catalog asks it how an order with an expired reservation ended)",
  ),
  PEER_TIMEOUT_MS: described(
    intVar(3000, 50, 120_000),
    "deadline of each call to the order service; slower counts as unavailable",
  ),
  OPENSEARCH_URL: described(
    optionalVar(urlVar),
    "set: search is answered by OpenSearch, kept in step through the outbox",
  ),
  OPENSEARCH_INDEX: described(
    v.optional(
      v.pipe(
        v.string(),
        v.regex(/^[a-z0-9][a-z0-9._-]{0,200}$/, "must be a lower-case OpenSearch index name"),
      ),
      "bazaar-products",
    ),
    "the OpenSearch index",
  ),
  // WatchStock: the outbox tail's poll, the streams' caps and heartbeat.
  ...liveEntries(),
  // Default: on in development only; see loadCatalogConfig.
  SEED_DEMO_DATA: described(
    boolVar(false),
    "load 60 demo products into an empty catalog",
    "`true` in development, else `false`",
  ),
});

export type CatalogConfig = v.InferOutput<typeof schema>;

export function loadCatalogConfig(
  env: Record<string, string | undefined> = process.env,
): CatalogConfig {
  const config = parseEnv(schema, env);
  // Demo products are for a newcomer's `npm start`, never a surprise in production or tests.
  if (env.SEED_DEMO_DATA === undefined || env.SEED_DEMO_DATA.trim() === "") {
    config.SEED_DEMO_DATA = config.NODE_ENV === "development";
  }
  return config;
}
