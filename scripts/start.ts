// `npm start`: runs every Bazaar process as its own child process, each service on its own
// database in one embedded PostgreSQL (data under .data/), with prefixed output, a banner once
// all are ready, and an orderly stop on Ctrl-C / SIGTERM (the database last).
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { localUrl, processNames, processes as registry } from "../platform/processes.js";
import { developmentAdmin } from "../services/account/config.js";
import { superviseDatabase } from "./postgres.js";

const processes = processNames.map((name) => ({ name, ...registry[name] }));
type Process = (typeof processes)[number];

// Paths from the repository, so the supervisor also runs from another working directory
// (each service keeps its .data/ under the working directory).
const root = fileURLToPath(new URL("..", import.meta.url));
const tsx = import.meta.resolve("tsx");
const colors = [36, 33, 35, 32, 34];
const children = new Map<string, ChildProcess>();
let stopping = false;

function portOf(p: Process): number {
  return Number(process.env[`${p.name.toUpperCase()}_PORT`] ?? p.port);
}

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
  const child = spawn(process.execPath, ["--import", tsx, resolve(root, p.entry)], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.set(p.name, child);
  const prefix = process.stdout.isTTY
    ? `\x1b[${colors[index % colors.length]}m${p.name.padEnd(8)}\x1b[0m| `
    : `${p.name.padEnd(8)}| `;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) =>
      process.stdout.write(`${prefix}${line}\n`),
    );
  }
  child.on("exit", (code, signal) => {
    children.delete(p.name);
    if (!stopping) {
      process.stderr.write(
        `${p.name} exited unexpectedly (${signal ?? `code ${code}`}); stopping the rest\n`,
      );
      void stopAll(1);
    } else if (children.size === 0) {
      void database.stop().finally(() => process.exit(exitCode));
    }
  });
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

async function waitReady(p: Process): Promise<boolean> {
  for (let i = 0; i < 300 && !stopping; i++) {
    try {
      const response = await fetch(`${localUrl(p.name, portOf(p))}/readyz`);
      if (response.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

const database = superviseDatabase(
  processes.filter((p) => p.database).map((p) => p.name),
  (line) => process.stdout.write(`${"postgres".padEnd(8)}| ${line}\n`),
  () => {
    process.stderr.write("postgres exited unexpectedly; stopping the rest\n");
    void stopAll(1);
  },
);
process.on("SIGINT", () => void stopAll(0));
process.on("SIGTERM", () => void stopAll(0));

await database.ready.catch((error: unknown) => {
  process.stderr.write(`cannot start the embedded PostgreSQL: ${(error as Error).message}\n`);
  process.exit(1);
});
if (!stopping) processes.forEach(launch);
const ready = await Promise.all(processes.map(waitReady));
if (ready.every(Boolean) && !stopping) {
  const lines = [
    "",
    "Bazaar is running:",
    ...processes.map((p) =>
      p.name === "gateway"
        ? `  GraphQL + GraphiQL  ${localUrl(p.name, portOf(p))}/graphql`
        : p.name === "web"
          ? `  storefront          ${localUrl(p.name, portOf(p))}  (Connect-Web, straight to the services)`
          : `  ${p.name.padEnd(8)} service  ${localUrl(p.name, portOf(p))}  (gRPC h2c, Connect, gRPC-Web; buf curl --list-methods)`,
    ),
    `  admin login         ${process.env.ADMIN_EMAIL ?? developmentAdmin.email} / ${process.env.ADMIN_PASSWORD ? "(ADMIN_PASSWORD)" : developmentAdmin.password}  (development default)`,
    "  data                .data/ (delete it to start afresh)",
    "Press Ctrl-C to stop.",
    "",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}
