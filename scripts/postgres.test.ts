// npm start's embedded PostgreSQL: one database and role per service, each role shut out of
// the others' databases, passwords required over TCP, restarts after a crash, private files,
// and a service started alone without DATABASE_URL saying what to do.
import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { developmentKeys } from "../platform/auth/keys.js";
import { serverUser } from "../platform/data/embedded-postgres.js";
import { openSql } from "../platform/data/postgres-connection.js";
import { freePort, runToExit } from "../platform/testing.js";
import { type ServiceDatabases, startServiceDatabases } from "./postgres.js";

const services = ["account", "catalog", "order"];

async function canConnect(url: string): Promise<string> {
  const client = openSql(url, { max: 1, connect_timeout: 5 });
  try {
    const [row] = await client<{ db: string }[]>`select current_database() as db`;
    return `connected to ${row?.db}`;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end({ timeout: 1 });
  }
}

describe("the embedded PostgreSQL under npm start", () => {
  let work: string;
  let root: string;
  let port: number;
  let databases: ServiceDatabases | undefined;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "bazaar-pg-"));
    await chmod(work, 0o711); // as root, the server's user must pass through
    root = join(work, ".data");
    port = await freePort();
    databases = await startServiceDatabases({ root, port, services });
  }, 60_000);
  afterAll(async () => {
    await databases?.server.stop();
    await rm(work, { recursive: true, force: true });
  });

  it("gives each service its own database that no other role may enter", async () => {
    const urls = databases?.urls ?? {};
    expect(Object.keys(urls).sort()).toEqual(services);
    for (const service of services) {
      expect(await canConnect(urls[service] as string)).toBe(`connected to ${service}`);
      for (const other of [...services.filter((s) => s !== service), "postgres"]) {
        const url = new URL(urls[service] as string);
        url.pathname = `/${other}`;
        expect(await canConnect(url.toString())).toMatch(/permission denied for database/);
      }
    }
  });

  it("hands out its Unix socket, and asks for a password over it and over TCP", async () => {
    const socketUrl = new URL(databases?.urls.account as string);
    expect(socketUrl.searchParams.get("host")).toBe(join(root, "postgres"));
    const client = openSql(socketUrl.toString(), { max: 1 });
    try {
      // A Unix-socket connection has no server address.
      const [row] = await client<
        { address: string | null }[]
      >`select inet_server_addr() as address`;
      expect(row?.address).toBeNull();
    } finally {
      await client.end({ timeout: 1 });
    }
    const tcpUrl = new URL(socketUrl);
    tcpUrl.searchParams.delete("host");
    tcpUrl.hostname = "127.0.0.1";
    expect(await canConnect(tcpUrl.toString())).toBe("connected to account");
    for (const url of [socketUrl, tcpUrl]) {
      url.password = "";
      expect(await canConnect(url.toString())).toMatch(/password/i);
      url.password = "wrong";
      expect(await canConnect(url.toString())).toMatch(/password authentication failed/);
      url.username = "postgres";
      expect(await canConnect(url.toString())).toMatch(/password authentication failed/);
    }
  });

  it("keeps the credentials 0600 and the cluster 0700", async () => {
    expect((await stat(join(root, "postgres-credentials.json"))).mode & 0o777).toBe(0o600);
    expect((await stat(join(root, "postgres"))).mode & 0o777).toBe(0o700);
    expect([0o700, 0o710]).toContain((await stat(root)).mode & 0o777);
  });

  it("restarts on the same data after a crash, whatever postmaster.pid says", async () => {
    const before = databases?.urls.catalog as string;
    const marker = openSql(before, { max: 1 });
    await marker`create table survives (id int)`;
    await marker.end();
    const crashed = databases?.server.child;
    const gone = new Promise((resolve) => crashed?.once("exit", resolve));
    crashed?.kill("SIGKILL");
    await gone;
    // The server left its lock behind, and its pid now belongs to another program (not our
    // own or our parent's pid, which PostgreSQL itself would know to be stale).
    // It runs as the server's user, or PostgreSQL would see it cannot be its own.
    const other = spawn("sleep", ["60"], { stdio: "ignore", ...(await serverUser()) });
    await writeFile(join(root, "postgres", "postmaster.pid"), `${other.pid}\n`);
    try {
      databases = await startServiceDatabases({ root, port, services });
    } finally {
      other.kill();
    }
    expect(databases.urls.catalog).toBe(before);
    const client = openSql(before, { max: 1 });
    expect(await client`select count(*)::int as n from survives`).toEqual([{ n: 0 }]);
    await client.end();
  }, 60_000);
});

describe("local files", () => {
  it("tightens a loose .data and development keys to 0700 and 0600", async () => {
    const dir = join(await mkdtemp(join(tmpdir(), "bazaar-modes-")), ".data");
    const keys = join(dir, "keys");
    await mkdir(keys, { recursive: true, mode: 0o777 });
    await chmod(dir, 0o777);
    await chmod(keys, 0o777);
    await developmentKeys(keys, "account");
    const file = join(keys, "account.private.jwk");
    await chmod(file, 0o666);
    await developmentKeys(keys, "account");
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(keys)).mode & 0o777).toBe(0o700);
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const fresh = join(dir, "fresh", "keys");
    await developmentKeys(fresh, "order");
    expect((await stat(join(dir, "fresh"))).mode & 0o777).toBe(0o700);
    expect((await stat(join(fresh, "order.private.jwk"))).mode & 0o777).toBe(0o600);
  });
});

describe("a service started alone", () => {
  it("without DATABASE_URL stops, saying to run npm start or set DATABASE_URL", async () => {
    const { code, output } = await runToExit(
      process.execPath,
      [
        "--import",
        import.meta.resolve("tsx"),
        new URL("../services/catalog/main.ts", import.meta.url).pathname,
      ],
      {
        cwd: await mkdtemp(join(tmpdir(), "bazaar-alone-")),
        env: { PATH: process.env.PATH ?? "", PORT: "0", LOG_LEVEL: "silent" },
      },
    );
    expect(code).toBe(1);
    expect(output).toContain("DATABASE_URL is not set: run every process with `npm start`");
    expect(output).toContain("set DATABASE_URL to a postgres:// URL");
    expect(output).not.toMatch(/\n\s+at /); // no stack trace
  }, 30_000);
});
