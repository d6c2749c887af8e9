// `npm start`: runs every Bazaar process as its own child process, each service on its own
// database in one embedded PostgreSQL (data under .data/), with prefixed output, a line as each
// becomes ready, a banner once all are, and an orderly stop on Ctrl-C / SIGTERM (the database
// last). A process that dies is reported with its last lines of output.
//
// Each process runs from its bundle (dist/<name>.js, which `npm start` builds first: see
// scripts/build.ts) with plain `node`; `npm start -- --tsx` runs them from their TypeScript
// sources through tsx instead, with no build.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  bundleOf,
  localUrl,
  nodeArgs,
  processNames,
  processes as registry,
} from "../platform/processes.js";
import { superviseDatabase } from "./postgres.js";
import { banner, portProblems, portVariable } from "./start-text.js";

const processes = processNames.map((name) => ({ name, ...registry[name] }));
type Process = (typeof processes)[number];

// Paths from the repository, so the supervisor also runs from another working directory
// (each service keeps its .data/ under the working directory).
const root = fileURLToPath(new URL("..", import.meta.url));
const flags = (() => {
  try {
    return parseArgs({ options: { tsx: { type: "boolean", default: false } } }).values;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\nusage: npm start [-- --tsx]\n`);
    process.exit(2);
  }
})();
/**
 * How `node` runs a process: its V8 options, then its bundle (source maps on, so stack traces
 * name the .ts files).
 */
const command = (p: Process): string[] =>
  nodeArgs(p.name, flags.tsx ? "sources" : "bundle", { root, tsx: import.meta.resolve("tsx") });
const tty = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (color: number, text: string) => (tty ? `\x1b[${color}m${text}\x1b[0m` : text);
const colors = [36, 33, 35, 32, 34];
const children = new Map<string, ChildProcess>();
// The last lines each process wrote, to show why it died.
const recent = new Map<string, string[]>();
const keptLines = 15;
const began = performance.now();
const since = () => `${((performance.now() - began) / 1000).toFixed(1)}s`;
let stopping = false;

function portOf(p: Process): number {
  return Number(process.env[portVariable(p.name)] ?? p.port);
}

const say = (line: string) => process.stdout.write(`${paint(1, "bazaar  ")} | ${line}\n`);
// A reader that went away (`npm start | head`) must not kill the supervisor and orphan the rest.
process.stdout.on("error", () => {});

/** Where each process finds its peers: the ports chosen here, unless the environment says. */
function peerUrls(): Record<string, string> {
  const urls: Record<string, string> = {};
  for (const p of processes) {
    const name = registry[p.name].urlVariable;
    urls[name] = process.env[name] ?? localUrl(p.name, portOf(p));
  }
  return urls;
}

function launch(p: Process, index: number): void {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...peerUrls(),
    ...(database.urls[p.name] ? { DATABASE_URL: database.urls[p.name] } : {}),
    PORT: String(portOf(p)),
    LOG_PRETTY: process.env.LOG_PRETTY ?? (process.stdout.isTTY ? "true" : "false"),
  };
  const child = spawn(process.execPath, command(p), {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.set(p.name, child);
  const lines: string[] = [];
  recent.set(p.name, lines);
  const prefix = `${paint(colors[index % colors.length] ?? 0, p.name.padEnd(8))} | `;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => {
      lines.push(line);
      if (lines.length > keptLines) lines.shift();
      process.stdout.write(`${prefix}${line}\n`);
    });
  }
  child.on("exit", (code, signal) => {
    children.delete(p.name);
    if (!stopping) {
      reportCrash(p, signal ?? `code ${code}`);
      void stopAll(1);
    } else if (children.size === 0) {
      void database.stop().finally(() => process.exit(exitCode));
    }
  });
}

function reportCrash(p: Process, how: string): void {
  const lines = recent.get(p.name) ?? [];
  const out = [
    "",
    paint(31, `${p.name} exited unexpectedly (${how}); stopping the rest. Its last lines:`),
    ...lines.map((l) => `  ${l}`),
  ];
  // The service's own message says PORT (right when it runs alone); here it is another variable.
  if (lines.some((l) => l.includes("cannot listen on port"))) {
    out.push(`Under npm start, set ${portVariable(p.name)} (not PORT) to another port.`);
  }
  process.stderr.write(`${out.join("\n")}\n\n`);
}

let exitCode = 0;
async function stopAll(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  exitCode = code;
  if (children.size === 0) return database.stop().finally(() => process.exit(code));
  for (const child of children.values()) child.kill("SIGTERM");
  setTimeout(() => {
    for (const child of children.values()) child.kill("SIGKILL");
    void database.stop().finally(() => process.exit(code || 1));
  }, 15_000).unref();
}

const waiting = new Set<string>();

async function waitReady(p: Process): Promise<boolean> {
  for (let i = 0; i < 300 && !stopping; i++) {
    try {
      const response = await fetch(`${localUrl(p.name, portOf(p))}/readyz`);
      await response.body?.cancel();
      if (response.ok) {
        waiting.delete(p.name);
        say(
          `${paint(32, "ready")}  ${p.name.padEnd(8)} ${localUrl(p.name, portOf(p))}  after ${since()}${waiting.size > 0 ? `  (still starting: ${[...waiting].join(", ")})` : ""}`,
        );
        return true;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

const missing = flags.tsx
  ? []
  : processes.map((p) => bundleOf(p.name)).filter((file) => !existsSync(resolve(root, file)));
if (missing.length > 0) {
  process.stderr.write(
    `missing ${missing.join(", ")}: \`npm run build\` makes them (\`npm start\` runs it first)\n`,
  );
  process.exit(1);
}

// Every port checked before anything starts: one clear message instead of a crash midway.
const taken = await portProblems(
  processes.map((p) => ({ name: p.name, port: portOf(p) })),
  process.env.HOST,
);
if (taken.length > 0) {
  process.stderr.write(`${taken.join("\n")}\n`);
  process.exit(1);
}

say("starting the embedded PostgreSQL (the first start initialises it: a few seconds)");
const database = superviseDatabase(
  processes.filter((p) => p.database).map((p) => p.name),
  (line) => process.stdout.write(`postgres | ${line}\n`),
  () => {
    process.stderr.write("postgres exited unexpectedly; stopping the rest\n");
    void stopAll(1);
  },
);
process.on("SIGINT", () => void stopAll(0));
process.on("SIGTERM", () => void stopAll(0));
// npm runs the supervisor under `sh -c`, which dies of a SIGTERM sent to npm without passing it
// on (and npm itself may be killed outright): once its parent is gone, stop as on SIGTERM rather
// than leave every process running with no one to stop them.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void stopAll(0);
}, 500).unref();

await database.ready.catch((error: unknown) => {
  process.stderr.write(`cannot start the embedded PostgreSQL: ${(error as Error).message}\n`);
  process.exit(1);
});
say(`${paint(32, "ready")}  postgres after ${since()}; starting ${processNames.join(", ")}`);
for (const p of processes) waiting.add(p.name);
if (!stopping) processes.forEach(launch);
// A reminder while the slow ones start (the storefront may build itself on a first start).
const progress = setInterval(() => {
  if (waiting.size > 0 && !stopping) say(`still starting: ${[...waiting].join(", ")} (${since()})`);
}, 5_000);
const ready = await Promise.all(processes.map(waitReady));
clearInterval(progress);
if (!ready.every(Boolean) && !stopping) {
  const late = processes.filter((_, i) => !ready[i]).map((p) => p.name);
  process.stderr.write(`${late.join(", ")} did not become ready within a minute; stopping\n`);
  void stopAll(1);
} else if (!stopping) {
  process.stdout.write(
    banner({
      ports: Object.fromEntries(processes.map((p) => [p.name, portOf(p)])) as Record<
        (typeof processNames)[number],
        number
      >,
      env: process.env,
      seconds: since(),
      paint,
    }),
  );
}
