// `npm run bench`'s start-up section: `npm start` until the gateway's /readyz, fresh .data and
// warm, in a temporary directory on free ports, and each process's idle RSS; the same start
// through tsx is the same-run reference, alternating (bundle, tsx, tsx, bundle, …) so that the
// machine's load falls on both.
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { bundleOf, processNames, supervisorBundle } from "../../platform/processes.js";
import { freePort } from "../../platform/testing.js";
import { num, root, row } from "../report.js";

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

export async function startUp(rounds: number): Promise<void> {
  // What `npm start` runs (bundles), against the same start through tsx as the same-run
  // reference, alternating (bundle, tsx, tsx, bundle, …) so that the machine's load falls on both.
  const results: Record<Runner, StartFigures[]> = { bundle: [], tsx: [] };
  for (let round = 0; round < rounds; round++) {
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
  const label = rounds > 1 ? ` (median of ${rounds})` : "";
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
      `${figure}${label}`,
      `${ours.toFixed(digits)} ${unit}`,
      `through tsx: ${tsx.toFixed(digits)} ${unit}`,
      `${(ours / tsx).toFixed(2)} ×`,
      target,
    );
  };
  compare("npm start until gateway /readyz, fresh .data", "s", "≤ 10 s", (f) => f.fresh);
  compare("npm start until gateway /readyz, warm", "s", "≤ 4 s", (f) => f.warm);
  for (const name of [...processNames, "supervisor"]) {
    compare(`idle RSS: ${name}`, "MB", "≤ 150 MB", (f) => f.rss[name] ?? Number.NaN);
  }
}
