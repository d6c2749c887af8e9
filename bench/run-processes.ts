// What one benchmark run starts and must clean up: scratch databases on the server `base` names,
// and Bazaar processes as `npm start` runs them from sources (test keys, a free port, ready
// once /readyz answers). bench:orders and bench:live share it.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { TestAuthority } from "../platform/auth/auth-testing.js";
import { isServiceName } from "../platform/auth/keys.js";
import { openSql } from "../platform/data/postgres-connection.js";
import { nodeArgs, type ProcessName } from "../platform/processes.js";
import { freePort } from "../platform/testing.js";

const root = fileURLToPath(new URL("..", import.meta.url));

export class BenchProcesses {
  /** Every process started, in order. */
  readonly started: { name: ProcessName; child: ChildProcess }[] = [];
  /** The test keys every process is started with, to sign tokens for the load. */
  readonly authority = new TestAuthority();
  /** One connection to `base`'s server, for figures read from PostgreSQL itself. */
  readonly admin;
  readonly #scratch: string[] = [];

  constructor(private readonly base: string) {
    this.admin = openSql(base, { max: 1 });
  }

  /** A fresh database on `base`'s server, dropped by `dropDatabases`. */
  async scratchDatabase(service: string): Promise<string> {
    const name = `bazaar_bench_${service}_${randomBytes(4).toString("hex")}`;
    await this.admin.unsafe(`create database ${name}`);
    this.#scratch.push(name);
    const url = new URL(this.base);
    url.pathname = `/${name}`;
    return url.toString();
  }

  /** Starts `name` with `env` (and node options before its entry); its URL once ready. */
  async start(
    name: ProcessName,
    env: Record<string, string>,
    nodeOptions: string[] = [],
  ): Promise<string> {
    const port = await freePort();
    const child = spawn(process.execPath, [...nodeOptions, ...nodeArgs(name, "sources")], {
      cwd: root,
      env: {
        ...process.env,
        NODE_ENV: "test",
        LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn",
        ...(isServiceName(name) ? this.authority.env(name) : {}),
        HOST: "127.0.0.1",
        PORT: String(port),
        ...env,
      },
      stdio: ["ignore", process.env.BENCH_LOG_LEVEL ? "inherit" : "ignore", "inherit"],
    });
    this.started.push({ name, child });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
      try {
        if ((await fetch(`${url}/readyz`)).ok) return url;
      } catch {}
      if (Date.now() > deadline) throw new Error(`${name} did not become ready`);
      await sleep(100);
    }
  }

  pid(name: ProcessName): number | undefined {
    return this.started.find((p) => p.name === name)?.child.pid;
  }

  /** SIGTERM to every process, resolved once all have exited. */
  async stopProcesses(): Promise<void> {
    for (const { child } of this.started) child.kill("SIGTERM");
    await Promise.all(
      this.started.map(({ child }) =>
        child.exitCode !== null ? undefined : new Promise((resolve) => child.once("exit", resolve)),
      ),
    );
  }

  async dropDatabases(): Promise<void> {
    for (const name of this.#scratch) {
      await this.admin.unsafe(`drop database if exists ${name} with (force)`);
    }
    await this.admin.end();
  }
}
