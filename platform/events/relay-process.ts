// A process that only relays one database's outbox to JetStream, for the tests that kill it
// with SIGKILL at random moments: `tsx platform/events/relay-process.ts <service>` with
// DATABASE_URL and NATS_URL set. Services run the same relay inside themselves (host.ts).
import { drizzle } from "drizzle-orm/postgres-js";
import { openSql } from "../data/postgres-connection.js";
import { createLogger } from "../observability/logger.js";
import { type EventService, eventServices } from "./nats.js";
import { OutboxRelay } from "./relay.js";

const service = process.argv[2] as EventService;
const { DATABASE_URL, NATS_URL } = process.env;
if (!eventServices.includes(service) || !DATABASE_URL || !NATS_URL) {
  process.stderr.write("usage: DATABASE_URL=… NATS_URL=… relay-process.ts account|catalog|order\n");
  process.exit(2);
}
const sql = openSql(DATABASE_URL, { max: 2 });
const relay = new OutboxRelay({
  service,
  db: drizzle({ client: sql }),
  natsUrl: NATS_URL,
  logger: createLogger({ service: `${service}-relay`, level: "warn", pretty: false }),
  intervalMs: 20,
  batchSize: Number(process.env.RELAY_BATCH_SIZE ?? 50),
  minBackoffMs: 50,
  maxBackoffMs: 500,
  pauseBeforeMarkMs: Number(process.env.RELAY_PAUSE_BEFORE_MARK_MS ?? 0),
});
relay.start();
// The relay's loop never keeps a process alive on its own (platform/worker.ts), and its NATS
// connection is closed after a failure: this process lives until it is killed.
setInterval(() => {}, 60_000);
process.stdout.write("relaying\n");
