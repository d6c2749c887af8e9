// Measures the outbox tail (docs/live.md): the cost of one poll with a retained outbox of
// `--rows` rows, and the latency from a change's commit to its delivery to a listener.
// Usage: TEST_DATABASE_URL=postgres://… npx tsx bench/live-tail.ts [--rows 100000] [--interval 50]
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { sql } from "drizzle-orm";
import { OutboxTail } from "../platform/events/tail.js";
import { recordEvent } from "../platform/events/tail-testing.js";
import { createLogger } from "../platform/observability/logger.js";
import { openTestDatabase } from "../platform/testing.js";
import { migrationsFolder } from "../services/catalog/config.js";
import * as schema from "../services/catalog/schema.js";

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "100000" },
    interval: { type: "string", default: "50" },
  },
});
const rows = Number(values.rows);
const intervalMs = Number(values.interval);
const subject = "bazaar.catalog.v1.StockChanged";
const database = await openTestDatabase({ schema, migrationsFolder });
try {
  // A day's retained events, already read: what every poll has to skip past.
  await database.db.execute(sql`insert into outbox (event_id, subject, thing_id, sequence, payload, occur_time)
    select gen_random_uuid(), ${subject}, md5('old-' || (g % 1000))::uuid, g, '\\x00'::bytea, now()
    from generate_series(1, ${rows}) g`);
  await database.db.execute(sql`analyze outbox`);
  const tail = new OutboxTail({
    db: database.db,
    subjects: [subject],
    intervalMs,
    retentionMs: 86_400_000,
    logger: createLogger({ service: "bench", level: "silent", pretty: false }),
  });
  await tail.ready();
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const idle = { ...tail.stats };
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  const polls = tail.stats.polls - idle.polls;
  const pollMs = ((tail.stats.pollSeconds - idle.pollSeconds) / polls) * 1000;
  const committed = new Map<string, number>();
  const latencies: number[] = [];
  const things = Array.from({ length: 20 }, () => randomUUID());
  const stop = tail.watch(things, (row) => {
    const at = committed.get(`${row.thingId}:${row.sequence}`);
    if (at !== undefined) latencies.push(performance.now() - at);
  });
  for (let i = 0; i < 400; i++) {
    const thingId = things[i % 20] as string;
    const sequence = await recordEvent(database.db, {
      subject,
      thingId,
      payload: new Uint8Array([1]),
    });
    committed.set(`${thingId}:${sequence}`, performance.now());
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  stop();
  await tail.stop();
  latencies.sort((x, y) => x - y);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  console.log(`retained rows         ${rows}`);
  console.log(`poll interval         ${intervalMs} ms`);
  console.log(`polls/s (idle)        ${(polls / 5).toFixed(1)}`);
  console.log(`one poll (idle)       ${pollMs.toFixed(2)} ms`);
  console.log(
    `database time/s       ${((pollMs * polls) / 5).toFixed(1)} ms per second of wall time`,
  );
  console.log(`delivered             ${latencies.length} of 400`);
  console.log(`commit→delivery p50   ${pct(0.5).toFixed(1)} ms`);
  console.log(`commit→delivery p99   ${pct(0.99).toFixed(1)} ms`);
} finally {
  await database.close();
}
