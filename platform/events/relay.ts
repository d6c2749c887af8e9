// The outbox relay: publishes a service's recorded events to JetStream, oldest first, and marks
// each one published only once JetStream has acknowledged it. One replica relays at a time
// (an advisory lock); a publish repeated after a crash or a lost ack carries the same
// Nats-Msg-Id, which JetStream stores once. NATS down or slow only lets rows wait: the change
// that recorded them never waits for NATS. platform/events/README.md explains the guarantees.
import { type JetStreamClient, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Logger } from "../observability/logger.js";
import { Loop, type Worker } from "../worker.js";
import { connectNats, type EventService, ensureStream } from "./nats.js";

// biome-ignore lint/suspicious/noExplicitAny: any service's database will do.
type Db = PgDatabase<PgQueryResultHKT, any, any>;

export interface RelayOptions {
  service: EventService;
  db: Db;
  natsUrl: string;
  logger: Logger;
  registry?: Registry | undefined;
  /** Time between passes when the outbox is drained. */
  intervalMs?: number;
  /** Rows a pass publishes at most, all in flight at once. */
  batchSize?: number;
  /** Wait for each ack at most this long. */
  publishTimeoutMs?: number;
  /** Backoff after a NATS failure: doubles from minBackoffMs up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A pause between JetStream's acks and marking the rows: only the kill -9 test sets it, to
   * widen the window a kill must hit to prove that a republish is absorbed. */
  pauseBeforeMarkMs?: number;
}

interface OutboxRow {
  id: string;
  event_id: string;
  subject: string;
  payload: Uint8Array;
  occur_time: string | Date;
}

export interface RelayPass {
  published: number;
  /** Whether a full batch went out, so another pass should follow at once. */
  more: boolean;
}

// One advisory lock per service (each has its own database; distinct keys cost nothing).
const relayLockKeys: Record<EventService, number> = {
  account: 7_305_722_101,
  catalog: 7_305_722_102,
  order: 7_305_722_103,
};

export class OutboxRelay implements Worker {
  readonly #options: Required<Omit<RelayOptions, "registry">>;
  readonly #loop: Loop<RelayPass>;
  readonly #published: Counter<"subject"> | undefined;
  readonly #lag: Histogram | undefined;
  #nats: { connection: NatsConnection; js: JetStreamClient } | undefined;
  #failures = 0;
  #retryAt = 0;

  constructor(options: RelayOptions) {
    this.#options = {
      intervalMs: 200,
      batchSize: 500,
      publishTimeoutMs: 5_000,
      minBackoffMs: 250,
      maxBackoffMs: 30_000,
      pauseBeforeMarkMs: 0,
      ...options,
    };
    this.#loop = new Loop({
      name: "outbox relay",
      intervalMs: this.#options.intervalMs,
      logger: options.logger,
      runAtStart: true,
      pass: () => this.pass(),
      more: (result) => result.more,
    });
    const registry = options.registry;
    if (registry) {
      this.#published = new Counter({
        name: "events_published_total",
        help: "Domain events JetStream acknowledged (duplicates of a republish included), by subject.",
        labelNames: ["subject"],
        registers: [registry],
      });
      this.#lag = new Histogram({
        name: "events_relay_lag_seconds",
        help: "From an event's occur_time to JetStream's acknowledgement.",
        buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
        registers: [registry],
      });
      const pending = this.#pendingCollector();
      new Gauge({
        name: "outbox_pending",
        help: "Recorded events not yet acknowledged by JetStream.",
        registers: [registry],
        async collect() {
          this.set((await pending()).count);
        },
      });
      new Gauge({
        name: "outbox_oldest_seconds",
        help: "Age of the oldest event not yet acknowledged by JetStream; 0 when none waits.",
        registers: [registry],
        async collect() {
          this.set((await pending()).oldestSeconds);
        },
      });
    }
  }

  start(): void {
    this.#loop.start();
  }

  /** Stops after the pass in flight, then closes the NATS connection. */
  async stop(): Promise<void> {
    await this.#loop.stop();
    await this.#disconnect();
  }

  /** One pass now, after any in flight (tests drive the relay with it). */
  runOnce(): Promise<RelayPass> {
    return this.#loop.runOnce();
  }

  /**
   * Publishes up to batchSize unpublished rows in id order, which for each thing is the order
   * of its events: they were inserted while the thing's row was locked, so a later event has
   * a higher id and is only visible once the earlier one committed. All in flight at once;
   * only the prefix acknowledged before the first failure is marked, so a thing's later event
   * never counts as sent while an earlier one does not.
   */
  async pass(): Promise<RelayPass> {
    const none = { published: 0, more: false };
    if (Date.now() < this.#retryAt) return none;
    let nats: { connection: NatsConnection; js: JetStreamClient };
    try {
      nats = await this.#connected();
    } catch (error) {
      this.#backOff(error, "NATS unreachable");
      return none;
    }
    const { db, batchSize } = this.#options;
    let failure: unknown;
    const published = await db.transaction(async (tx) => {
      const [lock] = (await tx.execute(
        sql`select pg_try_advisory_xact_lock(${relayLockKeys[this.#options.service]}) as locked`,
      )) as unknown as { locked: boolean }[];
      // Another replica is relaying; it holds the lock for its whole pass.
      if (!lock?.locked) return 0;
      const rows = (await tx.execute(
        sql`select id, event_id, subject, payload, occur_time from outbox
          where published_time is null order by id limit ${batchSize}`,
      )) as unknown as OutboxRow[];
      if (rows.length === 0) return 0;
      const acks = await Promise.allSettled(
        // async: a publish on a connection lost meanwhile throws, and counts as a failed ack.
        rows.map(async (row) =>
          nats.js.publish(row.subject, row.payload, {
            msgID: row.event_id,
            timeout: this.#options.publishTimeoutMs,
          }),
        ),
      );
      const firstFailed = acks.findIndex((ack) => ack.status === "rejected");
      const acked = firstFailed === -1 ? rows : rows.slice(0, firstFailed);
      if (firstFailed !== -1) failure = (acks[firstFailed] as PromiseRejectedResult).reason;
      if (acked.length > 0 && this.#options.pauseBeforeMarkMs) {
        await new Promise((resolve) => setTimeout(resolve, this.#options.pauseBeforeMarkMs));
      }
      if (acked.length > 0) {
        await tx.execute(
          sql`update outbox set published_time = now()
            where id = any(${`{${acked.map((row) => row.id).join(",")}}`}::bigint[])`,
        );
      }
      const now = Date.now();
      for (const row of acked) {
        this.#published?.inc({ subject: row.subject });
        this.#lag?.observe((now - new Date(row.occur_time).getTime()) / 1000);
      }
      return acked.length;
    });
    if (failure !== undefined) {
      this.#backOff(failure, "publishing to JetStream failed");
      // Publishes still buffered for a lost connection would go out whenever it came back,
      // perhaps after the dedup window: drop them with the connection and start afresh.
      await this.#disconnect();
      return { published, more: false };
    }
    this.#failures = 0;
    return { published, more: published >= batchSize };
  }

  #backOff(error: unknown, message: string): void {
    const { minBackoffMs, maxBackoffMs } = this.#options;
    const delay = Math.min(maxBackoffMs, minBackoffMs * 2 ** this.#failures);
    this.#failures++;
    this.#retryAt = Date.now() + delay * (0.5 + Math.random() / 2);
    this.#options.logger.warn(
      { err: error, retryInMs: Math.round(this.#retryAt - Date.now()) },
      `${message}; events wait in the outbox`,
    );
  }

  async #connected(): Promise<{ connection: NatsConnection; js: JetStreamClient }> {
    if (this.#nats && !this.#nats.connection.isClosed()) return this.#nats;
    const connection = await connectNats(this.#options.natsUrl, {
      name: `bazaar-${this.#options.service}-relay`,
    });
    try {
      await ensureStream(await jetstreamManager(connection), this.#options.service);
    } catch (error) {
      await connection.close().catch(() => {});
      throw error;
    }
    this.#nats = { connection, js: jetstream(connection) };
    this.#options.logger.info({ service: this.#options.service }, "relaying events to JetStream");
    return this.#nats;
  }

  async #disconnect(): Promise<void> {
    const nats = this.#nats;
    this.#nats = undefined;
    await nats?.connection.close().catch(() => {});
  }

  /** The backlog, read at most once per scrape for both gauges. */
  #pendingCollector(): () => Promise<{ count: number; oldestSeconds: number }> {
    let last: Promise<{ count: number; oldestSeconds: number }> | undefined;
    let at = 0;
    return () => {
      if (!last || Date.now() - at > 1_000) {
        at = Date.now();
        last = pendingEvents(this.#options.db);
      }
      return last;
    };
  }
}

/** How many events wait for JetStream, and how long the oldest has waited. */
export async function pendingEvents(db: Db): Promise<{ count: number; oldestSeconds: number }> {
  const [row] = (await db.execute(
    sql`select count(*)::int as count,
      coalesce(extract(epoch from now() - min(occur_time)), 0)::float8 as oldest
      from outbox where published_time is null`,
  )) as unknown as { count: number; oldest: number }[];
  return { count: row?.count ?? 0, oldestSeconds: Math.max(0, row?.oldest ?? 0) };
}
