// `npm run bench`: every benchmark in one run, and bench/results/latest.md with one table,
// each figure beside its reference from the same run and issue 10's target. Runs the other
// bench scripts as child processes and reads their output; measures `npm start`'s start-up
// (fresh .data and warm, in a temporary directory, on free ports) and idle RSS itself.
//
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench -- [--orders-seconds 30]
import { type ChildProcess, spawn } from "node:child_process";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { bundleOf, processNames, supervisorBundle } from "../platform/processes.js";
import { freePort } from "../platform/testing.js";
import { benchOptions } from "./options.js";

const options = benchOptions("bench", {
  "orders-seconds": { default: 30, help: "seconds of placing orders" },
  "events-seconds": { default: 15, help: "seconds per order run with and without NATS_URL" },
  "live-subscribers": { default: 1_000, help: "the most SSE subscribers the live section tries" },
  "gateway-seconds": { default: 5, help: "seconds per gateway scenario" },
  "search-products": { default: 20_000, help: "products the search benchmark loads" },
  soak: { default: false, help: "also the 60 s soak (bench/soak.ts), as its own section" },
  "start-rounds": { default: 1, help: "npm start rounds, each from bundles and through tsx" },
  "start-only": { default: false, help: "only npm start's start-up time and idle RSS" },
});
const root = fileURLToPath(new URL("..", import.meta.url));
const tsx = join(root, "node_modules/.bin/tsx");
const rows: string[][] = [];
const row = (figure: string, value: string, reference: string, target: string) =>
  rows.push([figure, value, reference, target]);

/** Runs a bench script to its end, echoing and returning its output. */
function script(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, [join(root, file), ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.on("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${file} exited with ${code}\n${out}`)),
    );
  });
}

const num = (text: string, pattern: RegExp) => Number(text.match(pattern)?.[1] ?? Number.NaN);

async function orders(): Promise<void> {
  const seconds = options["orders-seconds"];
  const out = await script("bench/orders.ts", ["--seconds", String(seconds)]);
  const rate = num(out, /= (\d+) orders\/s/);
  const placed = num(out, /orders placed:\s+(\d+)/);
  const p50 = num(out, /p50 ([\d.]+) ms/);
  const p99 = num(out, /p99 ([\d.]+) ms/);
  const cpu = [...(out.match(/service CPU:\s+(.*) \(/)?.[1] ?? "").matchAll(/([\d.]+) s/g)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );
  const failed = out.match(/failed calls:\s+(.*)/)?.[1] ?? "?";
  const exact = /EXACT/.test(out);
  row(`orders/s (64 clients, ${seconds} s)`, rate.toFixed(0), "", "≥ 500");
  row(
    "order latency p50 / p99",
    `${p50.toFixed(0)} / ${p99.toFixed(0)} ms`,
    `p99 = ${(p99 / p50).toFixed(1)} × p50`,
    "p99 ≤ 5 × p50",
  );
  row("failed order calls", failed, "", "none");
  row("reconciliation", exact ? "EXACT" : "MISMATCH", "", "EXACT");
  row(
    "service CPU per order (setup included)",
    `${((cpu * 1000) / placed).toFixed(1)} ms`,
    `${cpu.toFixed(1)} s for ${placed} orders`,
    "≤ 4 ms",
  );
}

async function gateway(): Promise<void> {
  const out = await script("bench/gateway.ts", ["--seconds", String(options["gateway-seconds"])]);
  const rps = (name: string) =>
    num(out, new RegExp(`${name.replace(/[()]/g, "\\$&")}\\s+(\\d+) req/s`));
  const bare = rps("bare node http");
  const getProduct = rps("direct Connect GetProduct");
  const direct = rps("direct Connect ListProducts(take 20)");
  const flat = rps("gateway products(take 20)");
  const nested = rps("gateway nested 3-level query");
  row("bare node:http server", `${bare.toFixed(0)} req/s`, "reference", "");
  row(
    "direct Connect GetProduct",
    `${getProduct.toFixed(0)} req/s`,
    `${(getProduct / bare).toFixed(3)} × bare`,
    "≥ 0.10 × bare",
  );
  row(
    "direct Connect ListProducts(take 20)",
    `${direct.toFixed(0)} req/s`,
    `${(direct / bare).toFixed(3)} × bare`,
    "",
  );
  row(
    "gateway flat products(take 20)",
    `${flat.toFixed(0)} req/s`,
    `${(flat / direct).toFixed(2)} × direct`,
    "≥ 0.9 × direct",
  );
  // The same query with every request asking a different page: nothing for the gateway (or the
  // catalog) to share between requests in flight, so this is the GraphQL layer's own cost.
  const directDistinct = rps("direct Connect ListProducts, distinct pages");
  const flatDistinct = rps("gateway products, distinct pages");
  row(
    "gateway flat, each request a different page",
    `${flatDistinct.toFixed(0)} req/s`,
    `${(flatDistinct / directDistinct).toFixed(2)} × direct, each a different page (${directDistinct.toFixed(0)} req/s)`,
    "",
  );
  // Issue 10's outside reference: Hive Gateway serving the same data off the same catalog, right
  // after ours in the same run, fronting its Connect JSON endpoint and generated from its proto
  // over gRPC; its CPU per request is the steadier comparison.
  for (const [scenario, label, figure] of [
    ["Hive Gateway products(take 20)", "Hive Gateway", "Hive Gateway flat products(take 20)"],
    [
      "Hive Gateway gRPC products(take 20)",
      "Hive Gateway over gRPC",
      "Hive Gateway over gRPC (from the proto) flat products(take 20)",
    ],
  ] as const) {
    const name = scenario.replace(/[()]/g, "\\$&");
    const hive = rps(scenario);
    const skipped = out.match(new RegExp(`^${name}\\s+not measured: (.*)`, "m"))?.[1];
    const cpu =
      out.match(
        new RegExp(
          `^gateway flat / ${label} = .*its CPU per request = ([\\d.]+)× our gateway's`,
          "m",
        ),
      )?.[1] ?? "?";
    row(
      figure,
      skipped ? "not measured" : `${hive.toFixed(0)} req/s`,
      skipped
        ? skipped.replaceAll("|", "\\|")
        : `ours = ${(flat / hive).toFixed(2)} × Hive (CPU per request: Hive = ${cpu} × ours)`,
      "ours ≥ 2 × Hive",
    );
  }
  row(
    "gateway 3-level nested query",
    `${nested.toFixed(0)} req/s`,
    `${(nested / flat).toFixed(2)} × flat`,
    "≥ 0.5 × flat",
  );
}

async function search(): Promise<void> {
  const out = await script("bench/search.ts", [
    "--products",
    String(options["search-products"]),
    "--queries",
    "300",
  ]);
  const p50 = num(out, /p50 ([\d.]+) ms/);
  const p99 = num(out, /p99 ([\d.]+) ms/);
  const rate = num(out, /\((\d+)\/s/);
  row(
    `search ListProducts(query) on ${options["search-products"]} products`,
    `${rate} /s sequential`,
    `p50 ${p50} ms, p99 ${p99} ms`,
    "",
  );
}

/** RSS of a process in MB (Linux /proc). */
function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return num(status, /VmRSS:\s+(\d+) kB/) / 1024;
}
function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

type Runner = "bundle" | "tsx";
interface StartFigures {
  fresh: number;
  warm: number;
  /** Idle RSS in MB by process (the supervisor included), after the warm start. */
  rss: Record<string, number>;
}

/**
 * `npm start` in `work` until the gateway's /readyz answers, in seconds; with `rss`, each
 * process's RSS once idle. "bundle" is what `npm start` runs (package.json's prestart builds the
 * bundles, then node runs the supervisor's); "tsx" is `npm start -- --tsx` from the sources.
 */
async function startOnce(work: string, runner: Runner, rss?: Record<string, number>) {
  const ports = Object.fromEntries(
    await Promise.all(
      ["ACCOUNT", "CATALOG", "ORDER", "GATEWAY", "WEB", "POSTGRES"].map(async (n) => [
        `${n}_PORT`,
        String(await freePort()),
      ]),
    ),
  );
  const started = performance.now();
  const env = { ...process.env, ...ports, LOG_LEVEL: "warn", NODE_ENV: "development" };
  if (runner === "bundle")
    await runNode(["--import", "tsx", join(root, "scripts/build.ts")], root, env);
  const child: ChildProcess = spawn(
    process.execPath,
    runner === "bundle"
      ? ["--enable-source-maps", join(root, bundleOf(supervisorBundle))]
      : ["--import", import.meta.resolve("tsx"), join(root, "scripts/start.ts"), "--tsx"],
    { cwd: work, env, stdio: ["ignore", "ignore", "inherit"] },
  );
  let seconds = Number.NaN;
  try {
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(50)) {
      if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}`);
      const ok = await fetch(`http://127.0.0.1:${ports.GATEWAY_PORT}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) {
        seconds = (performance.now() - started) / 1000;
        break;
      }
    }
    if (rss && child.pid) {
      await sleep(5_000); // idle
      rss.supervisor = rssMb(child.pid);
      for (const pid of childrenOf(child.pid)) {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        const name =
          cmd.match(/dist\/(\w+)\.js/)?.[1] ??
          cmd
            .match(/(?:services\/(\w+)|(gateway|web))\/main\.ts/)
            ?.slice(1)
            .find(Boolean);
        if (name) rss[name] = rssMb(pid);
      }
    }
  } finally {
    child.kill("SIGTERM");
    await new Promise((resolve) =>
      child.exitCode !== null ? resolve(undefined) : child.once("exit", resolve),
    );
  }
  return seconds;
}

/** Runs `node <args>` to its end. */
function runNode(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd,
      env,
      stdio: ["ignore", "ignore", "inherit"],
    });
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`node ${args.join(" ")} exited with ${code}`)),
    );
  });
}

/** A fresh start (new .data) and a warm one (the same .data again), idle RSS after the warm. */
async function startFigures(runner: Runner): Promise<StartFigures> {
  const work = mkdtempSync(join(tmpdir(), "bazaar-bench-start-"));
  chmodSync(work, 0o711); // the embedded server may run as the postgres user
  try {
    const rss: Record<string, number> = {};
    const fresh = await startOnce(work, runner);
    const warm = await startOnce(work, runner, rss);
    process.stdout.write(
      `${runner}: fresh ${fresh.toFixed(1)} s, warm ${warm.toFixed(1)} s, idle RSS ${Object.entries(
        rss,
      )
        .map(([name, mb]) => `${name} ${mb.toFixed(0)} MB`)
        .join(", ")}\n`,
    );
    return { fresh, warm, rss };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function startUp(): Promise<void> {
  // What `npm start` runs (bundles), against the same start through tsx as the same-run
  // reference, alternating (bundle, tsx, tsx, bundle, …) so that the machine's load falls on both.
  const results: Record<Runner, StartFigures[]> = { bundle: [], tsx: [] };
  for (let round = 0; round < options["start-rounds"]; round++) {
    const order: Runner[] = round % 2 === 0 ? ["bundle", "tsx"] : ["tsx", "bundle"];
    for (const runner of order) results[runner].push(await startFigures(runner));
  }
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2
      ? (sorted[mid] ?? Number.NaN)
      : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  };
  const rounds = options["start-rounds"] > 1 ? ` (median of ${options["start-rounds"]})` : "";
  const compare = (
    figure: string,
    unit: string,
    target: string,
    of: (f: StartFigures) => number,
  ) => {
    const ours = median(results.bundle.map(of));
    const tsx = median(results.tsx.map(of));
    const digits = unit === "s" ? 1 : 0;
    row(
      `${figure}${rounds}`,
      `${ours.toFixed(digits)} ${unit}`,
      `${(ours / tsx).toFixed(2)} × through tsx (${tsx.toFixed(digits)} ${unit})`,
      target,
    );
  };
  compare("npm start until gateway /readyz, fresh .data", "s", "≤ 10 s", (f) => f.fresh);
  compare("npm start until gateway /readyz, warm", "s", "≤ 4 s", (f) => f.warm);
  for (const name of [...processNames, "supervisor"]) {
    compare(`idle RSS: ${name}`, "MB", "≤ 150 MB", (f) => f.rss[name] ?? Number.NaN);
  }
}

async function cancellations(): Promise<void> {
  const out = await script("bench/cancellations.ts", []);
  const creates = num(out, /= (\d+) orders\/s/);
  row(
    "cancellations/s (32 clients)",
    num(out, /= (\d+) cancellations\/s/).toFixed(0),
    `CreateOrder ${creates.toFixed(0)}/s`,
    "",
  );
  row("stock after cancelling every order", /EXACT/.test(out) ? "EXACT" : "MISMATCH", "", "EXACT");
}

/** Domain events' cost (bench/events.ts): orders/s with NATS_URL against without, relay lag. */
async function events(): Promise<void> {
  const out = await script("bench/events.ts", ["--seconds", String(options["events-seconds"])]);
  const rows = JSON.parse(out.match(/^ROWS (.*)$/m)?.[1] ?? "[]") as string[][];
  for (const [figure = "", value = "", reference = "", target = ""] of rows) {
    row(figure, value, reference, target);
  }
}

/** Live subscriptions (bench/live.ts): the largest N of SSE subscribers that holds. */
async function live(): Promise<void> {
  const out = await script("bench/live.ts", [
    "--subscribers",
    String(options["live-subscribers"]),
    "--seconds",
    "8",
  ]);
  const rows = JSON.parse(out.match(/^ROWS (.*)$/m)?.[1] ?? "[]") as string[][];
  for (const [figure = "", value = "", reference = "", target = ""] of rows) {
    row(figure, value, reference, target);
  }
}

const began = new Date();
const sections = [
  ["orders", orders],
  ["cancellations", cancellations],
  ["events", events],
  ["live", live],
  ["search", search],
  ["gateway", gateway],
  ["start-up", startUp],
] as const;
for (const [name, run] of sections.filter(
  ([name]) => !options["start-only"] || name === "start-up",
)) {
  process.stdout.write(`\n== ${name} ==\n`);
  try {
    await run();
  } catch (error) {
    row(`${name}: FAILED`, (error as Error).message.split("\n")[0] ?? "", "", "");
  }
}
const table = [
  "| figure | value | same-run reference | target (issue 10) |",
  "|---|---|---|---|",
  ...rows.map((r) => `| ${r.join(" | ")} |`),
].join("\n");
const md = `# npm run bench — ${began.toISOString()}\n\n${cpus().length} cores (${cpus()[0]?.model ?? "?"}), load average at the end ${(
  await import("node:os")
)
  .loadavg()
  .map((l) => l.toFixed(1))
  .join(" ")}.\n\n${table}\n`;
if (options["start-only"]) {
  // One section alone is not the run that latest.md records.
  process.stdout.write(`\n${table}\n`);
  process.exit(0);
}
mkdirSync(join(root, "bench/results"), { recursive: true });
writeFileSync(join(root, "bench/results/latest.md"), md);
process.stdout.write(`\n${table}\n\nwrote bench/results/latest.md\n`);
// The soak adds its own section to the file just written; a failed soak fails the run.
if (options.soak) await script("bench/soak.ts", []);
