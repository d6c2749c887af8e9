// `npm run events`: a tail of Bazaar's domain events for people. Subscribes to every BAZAAR_*
// stream with an ephemeral ordered consumer and prints each event as one line of JSON.
//   npm run events                      new events from now on
//   npm run events -- --since 10m       from ten minutes ago (or an ISO time: 2026-12-06T10:00Z)
//   npm run events -- --subject 'bazaar.order.v1.>'
import { parseArgs } from "node:util";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { decodeEvent } from "../platform/events/catalog.js";
import { connectNats, eventServices, streamName } from "../platform/events/nats.js";

const usage = `usage: NATS_URL=nats://localhost:4222 npm run events -- [--subject SUBJECT] [--since 10m|ISO-time]`;

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

/** "10m", "2h", "30s", "1d" before now, or an ISO time. */
export function parseSince(since: string, now: Date = new Date()): Date {
  const relative = /^(\d+)([smhd])$/.exec(since.trim());
  if (relative) {
    const seconds = { s: 1, m: 60, h: 3600, d: 86_400 }[relative[2] as "s" | "m" | "h" | "d"];
    return new Date(now.getTime() - Number(relative[1]) * seconds * 1000);
  }
  const time = new Date(since);
  if (Number.isNaN(time.getTime()))
    throw new Error(`--since: "${since}" is neither 10m-like nor an ISO time`);
  return time;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { subject: { type: "string" }, since: { type: "string" }, help: { type: "boolean" } },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const url = process.env.NATS_URL?.trim();
  if (!url) {
    fail(
      `NATS_URL is not set: events are recorded in each service's outbox but published only when the services run with NATS_URL (e.g. nats://localhost:4222).\n${usage}`,
    );
  }
  let since: Date | undefined;
  try {
    since = values.since === undefined ? undefined : parseSince(values.since);
  } catch (error) {
    fail((error as Error).message);
  }
  const connection = await connectNats(url, { name: "bazaar-events-tail", timeoutMs: 3_000 }).catch(
    (error: unknown) => fail(`NATS is unreachable at ${url}: ${(error as Error).message}`),
  );
  const jsm = await jetstreamManager(connection).catch((error: unknown) =>
    fail(`NATS at ${url} has no JetStream: ${(error as Error).message}`),
  );
  const js = jetstream(connection);
  const streams: string[] = [];
  for (const service of eventServices) {
    const name = streamName(service);
    if (
      await jsm.streams.info(name).then(
        () => true,
        () => false,
      )
    )
      streams.push(name);
  }
  if (streams.length === 0) {
    process.stderr.write(
      "no BAZAAR_* stream yet: a service creates its stream when its relay first connects\n",
    );
  }
  process.stderr.write(
    `following ${streams.join(", ") || "nothing"}${values.subject ? ` (${values.subject})` : ""}${since ? ` since ${since.toISOString()}` : ""}; Ctrl-C stops\n`,
  );
  const tails = streams.map(async (stream) => {
    const consumer = await js.consumers
      .get(stream, {
        ...(values.subject ? { filter_subjects: values.subject } : {}),
        ...(since
          ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: since.toISOString() }
          : { deliver_policy: DeliverPolicy.New }),
      })
      // A --subject of another service's stream: nothing to follow here.
      .catch(() => undefined);
    if (!consumer) return;
    for await (const message of await consumer.consume()) {
      let event: unknown;
      try {
        event = decodeEvent(message.subject, message.data).json;
      } catch {
        event = { undecodable: Buffer.from(message.data).toString("base64") };
      }
      process.stdout.write(
        `${JSON.stringify({ subject: message.subject, time: new Date(message.info.timestampNanos / 1e6).toISOString(), event })}\n`,
      );
    }
  });
  const stop = async () => {
    await connection.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  await Promise.all([...tails, connection.closed()]);
}

await main();
