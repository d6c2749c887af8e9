// What every service runs for its outbox: the relay when NATS_URL is set, and the pruning.
// host.ts starts them for every service, so a service only declares its outbox table.
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { Registry } from "prom-client";
import type { Logger } from "../observability/logger.js";
import type { Worker } from "../worker.js";
import type { EventService } from "./nats.js";
import { pruneWorker } from "./prune.js";
import { OutboxRelay } from "./relay.js";

export interface EventsConfig {
  NATS_URL?: string | undefined;
  OUTBOX_RETENTION_HOURS: number;
  OUTBOX_RELAY_INTERVAL_MS: number;
}

export function eventWorkers(deps: {
  service: EventService;
  // biome-ignore lint/suspicious/noExplicitAny: any service's database will do.
  db: PgDatabase<PgQueryResultHKT, any, any>;
  config: EventsConfig;
  logger: Logger;
  registry: Registry;
}): Worker[] {
  const { config, logger } = deps;
  const publishing = config.NATS_URL !== undefined;
  const prune = pruneWorker(deps.db, {
    retentionHours: config.OUTBOX_RETENTION_HOURS,
    publishing,
    logger,
  });
  if (!config.NATS_URL) return [prune];
  const relay = new OutboxRelay({
    service: deps.service,
    db: deps.db,
    natsUrl: config.NATS_URL,
    logger,
    registry: deps.registry,
    intervalMs: config.OUTBOX_RELAY_INTERVAL_MS,
  });
  return [relay, prune];
}
