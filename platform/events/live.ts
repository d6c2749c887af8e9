// The settings and parts every service with Watch streams shares: one outbox tail per process
// (a worker), the stream caps and the heartbeat.
import type * as v from "valibot";
import { described, intVar } from "../config.js";
import type { Database } from "../data/database.js";
import type { Logger } from "../observability/logger.js";
import { OutboxTail } from "./tail.js";
import { StreamLimits, type WatchSettings } from "./watch.js";

/** The LIVE_* variables; a service's config schema spreads them in. */
export function liveEntries() {
  return {
    LIVE_POLL_INTERVAL_MS: described(
      intVar(50, 5, 10_000),
      "how often the outbox is polled for the Watch streams; about half of it is added to each change's latency",
    ),
    LIVE_HEARTBEAT_MS: described(
      intVar(15_000, 100, 300_000),
      "an idle Watch stream's heartbeat, well under proxies' idle timeouts (often 60 s)",
    ),
    LIVE_RETENTION_MS: described(
      intVar(24 * 3_600_000, 1_000, 30 * 24 * 3_600_000),
      "how far back a Watch cursor resumes; must not exceed the outbox's retention (older cursors get a fresh snapshot)",
    ),
    LIVE_MAX_STREAMS: described(
      intVar(10_000, 1, 1_000_000),
      "Watch streams open at once in this process",
    ),
    LIVE_MAX_STREAMS_PER_CALLER: described(
      intVar(20, 1, 1_000_000),
      "Watch streams open at once per caller (account, or client address without a token)",
    ),
    LIVE_MAX_STREAMS_PER_CONNECTION: described(
      intVar(20, 1, 1_000_000),
      "Watch streams open at once on one connection",
    ),
  };
}

export type LiveConfig = v.InferOutput<v.ObjectSchema<ReturnType<typeof liveEntries>, undefined>>;

export interface LiveParts {
  tail: OutboxTail;
  limits: StreamLimits;
  settings: WatchSettings;
}

export function liveParts(
  config: LiveConfig,
  // biome-ignore lint/suspicious/noExplicitAny: any service's schema; the tail reads only `outbox`.
  db: Database<any>,
  subjects: readonly string[],
  logger: Logger,
): LiveParts {
  return {
    tail: new OutboxTail({
      db,
      subjects,
      intervalMs: config.LIVE_POLL_INTERVAL_MS,
      retentionMs: config.LIVE_RETENTION_MS,
      logger,
    }),
    limits: new StreamLimits({
      perProcess: config.LIVE_MAX_STREAMS,
      perCaller: config.LIVE_MAX_STREAMS_PER_CALLER,
      perConnection: config.LIVE_MAX_STREAMS_PER_CONNECTION,
    }),
    settings: { heartbeatMs: config.LIVE_HEARTBEAT_MS },
  };
}
