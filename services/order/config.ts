// The order service's configuration, from the environment.
import { fileURLToPath } from "node:url";
import * as v from "valibot";
import {
  baseEntries,
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
  CATALOG_URL: peerUrlVar(localUrl("catalog")),
  // The deadline of each call to a peer; a peer slower than this counts as unavailable.
  PEER_TIMEOUT_MS: intVar(3000, 50, 120_000),
  PEER_PROTOCOL: v.optional(
    v.picklist(["connect", "grpc"], "must be connect (HTTP/1.1) or grpc (h2c)"),
    "connect",
  ),
  // A pending order this old was abandoned by a process that died: recovery fails it and
  // releases its stock. Keep it well above the longest saga (a few PEER_TIMEOUT_MS).
  RECOVERY_AFTER_MS: intVar(60_000, 0, 86_400_000),
  // This process's name among the order service's replicas, kept across its restarts, so that
  // a restarted process fails its predecessor's pending attempts at once. At most one live
  // process may hold a name. Default: host name and PORT (0: a fresh name every start).
  INSTANCE_ID: optionalVar(v.pipe(v.string(), v.minLength(1), v.maxLength(200))),
  // How often recovery looks for abandoned or unsettled orders; 0 runs it only at start.
  RECOVERY_INTERVAL_MS: intVar(15_000, 0, 86_400_000),
  // WatchOrders: the outbox tail's poll, the streams' caps and heartbeat.
  ...liveEntries(),
});

export type OrderConfig = v.InferOutput<typeof schema>;

export function loadOrderConfig(
  env: Record<string, string | undefined> = process.env,
): OrderConfig {
  return parseEnv(schema, env);
}
