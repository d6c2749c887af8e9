// Load generation for the benchmarks: `wrk` when it is installed (a C load generator takes the
// least CPU from the processes being measured), else a keep-alive loop in this process.

import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { answersOk, waitUntil } from "../platform/testing.js";

const run = promisify(execFile);

const haveWrk = spawnSync("wrk", ["--version"]).error === undefined;

export const loadGenerator = haveWrk ? "wrk -t1" : "in-process keep-alive loop";

/** Runs `target` for `seconds` with `connections` requests in flight. */
export async function runLoad(
  target: Target,
  options: { seconds: number; connections: number; workDir: string },
): Promise<Result> {
  return usesWrk(target)
    ? runWrk(target, options.seconds, options.connections, options.workDir)
    : runLoop(target, options.seconds, options.connections);
}

/** Whether `target` is measured by wrk: when it is installed and the target is one request. */
export function usesWrk(target: Target): boolean {
  return haveWrk && !target.units && !target.loop;
}

/** One call of a `units` target: a binary Connect request, as the gateway sends it. */
export interface Rpc {
  url: string;
  body: Uint8Array;
}

export interface Target {
  name: string;
  url: string;
  /**
   * Processes whose CPU time per request to report: name → base URL serving /metrics, or the pid
   * of a process that has none.
   */
  cpu: Record<string, string | number>;
  body?: string;
  /** Bodies sent in turn instead of `body`, so that requests in flight together differ. */
  bodies?: string[];
  /** Each `$KEY` in the body becomes a key no other request of the run has (idempotency keys). */
  freshKey?: boolean;
  /**
   * Instead of one request, units of calls: each connection sends a unit's calls one after the
   * other (each with `headers` and a fresh x-request-id), then the next unit; a unit counts as
   * one request, and fails when any of its calls does. Measured by the in-process loop, which
   * wrk cannot be: wrk sends to one host and port, and these calls go to three.
   */
  units?: Rpc[][];
  /** Measured by the in-process loop even when wrk is installed (the same client as `units`). */
  loop?: boolean;
  headers?: Record<string, string>;
  /**
   * A GraphQL endpoint: an answer with `errors` counts as an error, though it comes with status
   * 200 (a failing backend would otherwise look like a fast success).
   */
  graphql?: boolean;
}

export interface Result {
  name: string;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/**
 * User + system CPU seconds a process has used so far, all its threads (Linux /proc; NaN
 * elsewhere or once it is gone). Fields counted after the ")" that ends the command name (which
 * may hold spaces): utime and stime, fields 14 and 15, in ticks of 1/100 s (USER_HZ).
 */
export function processCpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** The p-th percentile of ascending `sorted`; NaN for none. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export function waitReady(url: string, timeoutMs = 60_000): Promise<void> {
  return waitUntil(`${url} ready`, () => answersOk(url), { timeoutMs, intervalMs: 200 });
}

/** A keep-alive loop with `connections` requests (or units) in flight. */
async function runLoop(target: Target, duration: number, connections: number): Promise<Result> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const headers = { "content-type": "application/json", ...target.headers };
  let sent = 0;
  const run = randomBytes(6).toString("hex");
  const nextBody = () => {
    const body = target.bodies?.[sent++ % target.bodies.length] ?? target.body;
    return target.freshKey ? body?.replaceAll("$KEY", `${run}-${sent}`) : body;
  };
  const post = (url: string, body: string | Uint8Array | undefined, head: typeof headers) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(
        url,
        { method: body === undefined ? "GET" : "POST", agent, headers: head },
        (res) => {
          let answer = "";
          if (target.graphql) res.on("data", (chunk: Buffer) => (answer += chunk));
          else res.resume();
          res.on("end", () => resolve(answer.includes('"errors"') ? 0 : (res.statusCode ?? 0)));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  let units = 0;
  const unit = async (calls: Rpc[]) => {
    const head = { ...headers, "x-request-id": `${run}-${units++}` };
    for (const call of calls) if ((await post(call.url, call.body, head)) !== 200) return 0;
    return 200;
  };
  const once = () =>
    target.units
      ? unit(target.units[units % target.units.length] as Rpc[])
      : post(target.url, nextBody(), headers);
  const measure = async (ms: number) => {
    const latencies: number[] = [];
    let errors = 0;
    const until = performance.now() + ms;
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() < until) {
          const started = performance.now();
          const status = await once().catch(() => 0);
          if (status !== 200) errors++;
          latencies.push(performance.now() - started);
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    const at = (q: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
    return {
      requests: latencies.length,
      rps: latencies.length / (ms / 1000),
      p50: at(0.5),
      p99: at(0.99),
      errors,
    };
  };
  const result = await measure(duration * 1000);
  agent.destroy();
  return { name: target.name, ...result };
}

async function runWrk(
  target: Target,
  duration: number,
  connections: number,
  workDir: string,
): Promise<Result> {
  const script = join(workDir, `${target.name.replace(/\W+/g, "_")}.lua`);
  const headers = { "content-type": "application/json", ...target.headers };
  writeFileSync(
    script,
    [
      `wrk.method = "${target.body || target.bodies ? "POST" : "GET"}"`,
      target.body && !target.freshKey ? `wrk.body = ${JSON.stringify(target.body)}` : "",
      ...(target.body && target.freshKey
        ? [
            `local body = ${JSON.stringify(target.body)}`,
            `local run = "${randomBytes(6).toString("hex")}"`,
            "local sent = 0",
            "request = function()",
            "  sent = sent + 1",
            '  return wrk.format(nil, nil, nil, (body:gsub("%$KEY", run .. "-" .. sent)))',
            "end",
          ]
        : []),
      ...(target.bodies
        ? [
            `local bodies = { ${target.bodies.map((body) => JSON.stringify(body)).join(", ")} }`,
            "local sent = 0",
            "request = function()",
            "  sent = sent % #bodies + 1",
            "  return wrk.format(nil, nil, nil, bodies[sent])",
            "end",
          ]
        : []),
      ...Object.entries(headers).map(([k, v]) => `wrk.headers["${k}"] = ${JSON.stringify(v)}`),
      // Each wrk thread has its own Lua state: done() sums what the threads counted.
      "local threads = {}",
      "setup = function(thread) table.insert(threads, thread) end",
      "init = function(args) failed = 0 end",
      ...(target.graphql
        ? [
            "response = function(status, headers, body)",
            `  if status == 200 and body:find('"errors"', 1, true) then failed = failed + 1 end`,
            "end",
          ]
        : []),
      "done = function(summary, latency, requests)",
      "  local failed = 0",
      '  for _, thread in ipairs(threads) do failed = failed + thread:get("failed") end',
      '  io.write(string.format("RESULT %f %f %f %d %d\\n", summary.requests / (summary.duration / 1e6),',
      "    latency:percentile(50) / 1000, latency:percentile(99) / 1000,",
      "    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + failed, summary.requests))",
      "end",
    ].join("\n"),
  );
  // Asynchronous, so servers living in this same process keep answering meanwhile.
  const { stdout: out } = await run("wrk", [
    "-t1",
    `-c${connections}`,
    `-d${duration}s`,
    "--timeout",
    "5s",
    "-s",
    script,
    target.url,
  ]);
  const match = /RESULT (\S+) (\S+) (\S+) (\d+) (\d+)/.exec(out);
  if (!match) throw new Error(`wrk output not understood:\n${out}`);
  return {
    name: target.name,
    requests: Number(match[5]),
    rps: Number(match[1]),
    p50: Number(match[2]),
    p99: Number(match[3]),
    errors: Number(match[4]),
  };
}
