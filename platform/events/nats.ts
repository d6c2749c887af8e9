// Where each service's events go on NATS JetStream: its stream, its subjects, and how the
// stream is created or brought up to date. Shared by the relay, `npm run events` and the tests.
import { type JetStreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";

export const eventServices = ["account", "catalog", "order"] as const;
export type EventService = (typeof eventServices)[number];

/** BAZAAR_ORDER for "order". */
export function streamName(service: EventService): string {
  return `BAZAAR_${service.toUpperCase()}`;
}

/** Every subject of a service's events: bazaar.order.v1.> */
export function streamSubjects(service: EventService): string {
  return `bazaar.${service}.v1.>`;
}

/**
 * How long JetStream remembers a Nats-Msg-Id: a republish within it is acknowledged as a
 * duplicate and stored once. It must outlast the relay's longest wait before a retry
 * (relay.ts's maxBackoffMs) plus a restart, so that a publish whose ack was lost, or whose
 * row a killed process never marked, is absorbed when it is sent again.
 */
export const duplicateWindowMs = 5 * 60_000;

/** The servers of a NATS_URL: one URL or several, comma-separated. */
export function natsServers(url: string): string[] {
  return url
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

export async function connectNats(
  url: string,
  options: { name: string; timeoutMs?: number },
): Promise<NatsConnection> {
  return connect({
    servers: natsServers(url),
    name: options.name,
    timeout: options.timeoutMs ?? 2_000,
    // Reconnect for ever: a broker that comes back later is used again.
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // Without it every request (each JetStream publish the relay makes) builds two Error objects
    // with stack traces up front, in case it fails: 9% of the catalog's profile while relaying,
    // ~5% of its CPU per order. A failure still says what failed; only the caller's stack is
    // missing from its trace.
    noAsyncTraces: true,
  });
}

/** Creates the service's stream, or updates it to this configuration. */
export async function ensureStream(jsm: JetStreamManager, service: EventService): Promise<void> {
  const config = {
    name: streamName(service),
    subjects: [streamSubjects(service)],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    duplicate_window: duplicateWindowMs * 1_000_000, // nanoseconds
  };
  const exists = await jsm.streams.info(config.name).then(
    () => true,
    () => false,
  );
  if (exists) await jsm.streams.update(config.name, config);
  else await jsm.streams.add(config);
}
