// The order service's configuration, from the environment.
import { fileURLToPath } from "node:url";
import * as v from "valibot";
import {
  baseEntries,
  described,
  intVar,
  optionalVar,
  parseEnv,
  peerUrlVar,
  tokenVersionEntries,
} from "../../platform/config.js";
import { liveEntries } from "../../platform/events/live.js";
import { localUrl, processes } from "../../platform/processes.js";

/** This service's committed migrations (drizzle-kit writes them); every opener applies them. */
export const migrationsFolder = fileURLToPath(new URL("./drizzle", import.meta.url));

export const schema = v.object({
  ...baseEntries("order", processes.order.port),
  ...tokenVersionEntries(localUrl("account")),
  CATALOG_URL: described(peerUrlVar(localUrl("catalog")), "where the catalog service is"),
  PEER_TIMEOUT_MS: described(
    intVar(3000, 50, 120_000),
    "deadline of each call to a peer (account, catalog); slower counts as unavailable",
  ),
  PEER_PROTOCOL: described(
    v.optional(
      v.picklist(["connect", "grpc"], "must be connect (HTTP/1.1) or grpc (h2c)"),
      "connect",
    ),
    "how it calls account and catalog: `connect` (HTTP/1.1) or `grpc` (h2c)",
  ),
  // Keep it well above the longest saga (a few PEER_TIMEOUT_MS).
  RECOVERY_AFTER_MS: described(
    intVar(60_000, 0, 86_400_000),
    "a pending order this old was abandoned by a process that died: recovery fails it and releases its stock",
  ),
  INSTANCE_ID: described(
    optionalVar(v.pipe(v.string(), v.minLength(1), v.maxLength(200))),
    "this process's name among the order service's replicas, kept across its restarts, so that a restarted process fails its predecessor's pending attempts at once; at most one live process may hold a name",
    "host name and `PORT` (`PORT=0`: a fresh name every start)",
  ),
  RECOVERY_INTERVAL_MS: described(
    intVar(15_000, 0, 86_400_000),
    "how often recovery looks for abandoned or unsettled orders; `0`: only at start",
  ),
  // WatchOrders: the outbox tail\'s poll, the streams\' caps and heartbeat.
  ...liveEntries(),
});

export type OrderConfig = v.InferOutput<typeof schema>;

export function loadOrderConfig(
  env: Record<string, string | undefined> = process.env,
): OrderConfig {
  return parseEnv(schema, env);
}
