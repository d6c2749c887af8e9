// `npm run bench`: every benchmark in one run, and bench/results/latest.md with one table, each
// figure beside its reference from the same run, their ratio and issue 21's target. Each section
// (bench/sections/) runs a bench script as a child process and reads its output back into rows.
//
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench -- [--orders-seconds 30]
import { benchOptions } from "./options.js";
import { row, script, table, writeLatest } from "./report.js";
import { cancellations } from "./sections/cancellations.js";
import { events } from "./sections/events.js";
import { gateway } from "./sections/gateway.js";
import { live } from "./sections/live.js";
import { orders } from "./sections/orders.js";
import { search } from "./sections/search.js";
import { startUp } from "./sections/start-up.js";

const options = benchOptions("bench", {
  "orders-seconds": { default: 30, help: "seconds of CreateOrder (and as many of its reference)" },
  "events-seconds": { default: 15, help: "seconds per order run with and without NATS_URL" },
  "live-subscribers": { default: 1000, help: "SSE subscribers of the live section" },
  "gateway-seconds": { default: 5, help: "seconds per gateway scenario" },
  "search-products": { default: 100_000, help: "products the search benchmark loads" },
  soak: { default: false, help: "also the 60 s soak (bench/soak.ts), as its own section" },
  "start-rounds": { default: 1, help: "npm start rounds, each from bundles and through tsx" },
  "start-only": { default: false, help: "only npm start's start-up time and idle RSS" },
});

// One line per section; a section adds its rows with report.ts's row().
const sections: [string, () => Promise<void>][] = [
  ["orders", () => orders(options["orders-seconds"])],
  ["cancellations", cancellations],
  ["events", () => events(options["events-seconds"])],
  ["live", () => live(options["live-subscribers"])],
  ["search", () => search(options["search-products"])],
  ["gateway", () => gateway(options["gateway-seconds"])],
  ["start-up", () => startUp(options["start-rounds"])],
];

const began = new Date();
for (const [name, run] of sections) {
  if (options["start-only"] && name !== "start-up") continue;
  process.stdout.write(`\n== ${name} ==\n`);
  try {
    await run();
  } catch (error) {
    row(`${name}: FAILED`, (error as Error).message.split("\n")[0] ?? "", "", "", "");
  }
}
process.stdout.write(`\n${table()}\n`);
// One section alone is not the run that latest.md records.
if (!options["start-only"]) {
  writeLatest(began);
  process.stdout.write("\nwrote bench/results/latest.md\n");
  // The soak adds its own section to the file just written; a failed soak fails the run.
  if (options.soak) await script("bench/soak.ts", []);
}
