// What publishing domain events costs: bench/orders.ts run without NATS_URL and with it
// (alternating, so the machine's load falls on both), against a nats-server of its own; and
// the relay's lag from an event's occur_time to JetStream storing it, over every event of the
// order and catalog streams, read from the streams after each run.
//
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/events.ts -- [--seconds 15] [--pairs 2]
//
// Its last line, `ROWS [...]`, is what `npm run bench` (bench/all.ts) puts in its table.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { decodeEvent } from "../platform/events/catalog.js";
import { connectNats, ensureStream, streamName } from "../platform/events/nats.js";
import { natsServerMissing, TestNatsServer } from "../platform/events/testing.js";
import { benchOptions } from "./options.js";

const { seconds, pairs, clients } = benchOptions("bench/events.ts", {
  seconds: { default: 15, help: "seconds of placing orders per run" },
  clients: { default: 64, help: "concurrent clients of each order run" },
  pairs: { default: 2, help: "runs without and with NATS_URL, alternating" },
});
const root = fileURLToPath(new URL("..", import.meta.url));
const tsx = join(root, "node_modules/.bin/tsx");

function ordersRun(natsUrl: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      tsx,
      // Its rate is all this needs: no pgbench after it.
      [
        join(root, "bench/orders.ts"),
        ...["--seconds", String(seconds), "--clients", String(clients), "--pgbench", "0"],
      ],
      {
        cwd: root,
        env: { ...process.env, NATS_URL: natsUrl },
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk;
    });
    child.on("exit", (code) => {
      const rate = Number(out.match(/= (\d+) orders\/s/)?.[1] ?? Number.NaN);
      if (!Number.isFinite(rate)) reject(new Error(`bench/orders.ts exited with ${code}\n${out}`));
      // A run that placed orders but did not reconcile still measured its rate: say so, go on.
      if (code !== 0) process.stdout.write(`bench/orders.ts exited with ${code}:\n${out}`);
      resolve(rate);
    });
  });
}

/**
 * The relay's lags (ms, from an event's occur_time to JetStream storing it) over the events the
 * order and catalog streams store between making the recorder and calling `lags()`. Read from
 * the streams after the run, not while it runs: a consumer reading ~3,000 events a second on the
 * same two cores would take from the services the CPU whose cost this bench measures, and
 * JetStream keeps each message's store time anyway.
 */
async function lagRecorder(url: string) {
  const services = ["order", "catalog"] as const;
  const connection = await connectNats(url, { name: "bench-events" });
  const jsm = await jetstreamManager(connection);
  const lastSequences = () =>
    Promise.all(
      services.map(async (service) => {
        await ensureStream(jsm, service);
        return (await jsm.streams.info(streamName(service))).state.last_seq;
      }),
    );
  const before = await lastSequences();
  return {
    lags: async () => {
      // The relays publish what the last orders recorded within a pass or two.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const after = await lastSequences();
      const lags: number[] = [];
      for (const [i, service] of services.entries()) {
        const [from, to] = [(before[i] ?? 0) + 1, after[i] ?? 0];
        if (to < from) continue;
        const consumer = await jetstream(connection).consumers.get(streamName(service), {
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: from,
        });
        const messages = await consumer.consume();
        for await (const message of messages) {
          const stored = message.info.timestampNanos / 1e6;
          lags.push(stored - decodeEvent(message.subject, message.data).occurTime.getTime());
          if (message.seq >= to) break;
        }
        await messages.close();
      }
      await connection.close();
      return lags;
    },
  };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

const missing = natsServerMissing();
if (missing) {
  process.stdout.write(
    `${missing}\nROWS ${JSON.stringify([["events: skipped", missing, "", ""]])}\n`,
  );
  process.exit(0);
}
const nats = await TestNatsServer.start();
try {
  const without: number[] = [];
  const withNats: number[] = [];
  const lags: number[] = [];
  for (let pair = 0; pair < pairs; pair++) {
    // A B, then B A: neither side always runs on the warmer machine.
    for (const publish of pair % 2 === 0 ? [false, true] : [true, false]) {
      if (!publish) {
        without.push(await ordersRun(""));
      } else {
        const recorder = await lagRecorder(nats.url);
        withNats.push(await ordersRun(nats.url));
        lags.push(...(await recorder.lags()));
      }
      process.stdout.write(
        `${publish ? "with NATS_URL:   " : "without NATS_URL:"} ${(publish ? withNats : without).at(-1)} orders/s\n`,
      );
    }
  }
  lags.sort((a, b) => a - b);
  const ratio = mean(withNats) / mean(without);
  const p50 = percentile(lags, 50);
  const p99 = percentile(lags, 99);
  process.stdout.write(
    [
      `orders/s without NATS_URL: ${without.join(", ")} (mean ${mean(without).toFixed(0)})`,
      `orders/s with NATS_URL:    ${withNats.join(", ")} (mean ${mean(withNats).toFixed(0)}) = ${ratio.toFixed(2)}×`,
      `relay lag (occur_time → JetStream ack): p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms, max ${(lags.at(-1) ?? Number.NaN).toFixed(0)} ms over ${lags.length} events`,
    ].join("\n") + "\n",
  );
  const rows = [
    [
      `orders/s with NATS_URL (${seconds} s runs, ${pairs} pairs alternating)`,
      `${mean(withNats).toFixed(0)} (${ratio.toFixed(2)}×)`,
      `${mean(without).toFixed(0)} without NATS_URL`,
      "≥ 0.9× (issue 18)",
    ],
    [
      "relay lag p50 / p99 (occur_time → JetStream ack)",
      `${p50.toFixed(0)} / ${p99.toFixed(0)} ms`,
      `${lags.length} events`,
      "p99 ≤ 1 s (issue 18)",
    ],
  ];
  process.stdout.write(`ROWS ${JSON.stringify(rows)}\n`);
} finally {
  await nats.stop();
}
