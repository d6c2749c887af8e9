// npm start's database: one embedded PostgreSQL under .data/postgres (as root from a folder the
// postgres user cannot enter, under /var/lib/bazaar: see platform/data/postgres-outside.ts),
// initialised on the first start and reused after, with one database and one login role per
// service. A role may connect
// to its own database only, as if each service had its own server (compose gives it one).
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import type postgres from "postgres";
import {
  type ClusterPlace,
  clusterPlace,
  type RunningPostgres,
  serverUser,
  startEmbeddedServer,
} from "../platform/data/embedded-postgres.js";
import { openSql } from "../platform/data/postgres-connection.js";
import { ensurePrivateFile, writePrivateFile } from "../platform/data/private-files.js";

export interface ServiceDatabases {
  server: RunningPostgres;
  /** Each service's DATABASE_URL, by service name. */
  urls: Record<string, string>;
}

interface Credentials {
  superuser: string;
  roles: Record<string, string>;
}

const password = () => randomBytes(24).toString("base64url");

export async function startServiceDatabases(options: {
  /** The directory for local state, `.data` under the working directory. */
  root: string;
  port: number;
  services: readonly string[];
  log?: (line: string) => void;
}): Promise<ServiceDatabases> {
  const root = resolve(options.root);
  const credentials = await loadCredentials(
    join(root, "postgres-credentials.json"),
    await clusterPlace(root, await serverUser()),
    options.services,
    options.log,
  );
  const server = await startEmbeddedServer({
    root,
    port: options.port,
    password: credentials.superuser,
    ...(options.log ? { log: options.log } : {}),
  });
  try {
    const urls: Record<string, string> = {};
    const admin = openSql(server.url("postgres"), { max: 1 });
    try {
      // Nobody but the superuser uses the maintenance database.
      await admin`revoke connect, temporary on database postgres from public`;
      for (const service of options.services) {
        const secret = credentials.roles[service] as string;
        await provision(admin, service, secret);
        urls[service] = server.url(service, { name: service, password: secret });
      }
    } finally {
      await admin.end();
    }
    return { server, urls };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

// Idempotent: the role's password is reset from the credentials file on every start.
async function provision(admin: postgres.Sql, name: string, secret: string): Promise<void> {
  if (!/^[\w-]+$/.test(secret)) throw new Error(`the password for ${name} is malformed`);
  const [role] = await admin`select 1 from pg_roles where rolname = ${name}`;
  // CREATE/ALTER ROLE take no parameters: the password is a checked literal.
  const quoted = `"${name.replaceAll('"', '""')}"`;
  await admin.unsafe(`${role ? "alter" : "create"} role ${quoted} login password '${secret}'`);
  const [database] = await admin`select 1 from pg_database where datname = ${name}`;
  if (!database) await admin`create database ${admin(name)} owner ${admin(name)}`;
  await admin`revoke connect, temporary on database ${admin(name)} from public`;
  await admin`grant connect, temporary on database ${admin(name)} to ${admin(name)}`;
}

// The passwords live in .data (0600), made on the first start. Without them an existing
// cluster cannot be entered: say how to start afresh. A cluster outside .data whose link is
// gone too belonged to a .data/ deleted to start afresh (as the docs say to): it goes with it.
async function loadCredentials(
  file: string,
  place: ClusterPlace,
  services: readonly string[],
  log?: (line: string) => void,
): Promise<Credentials> {
  const { dataDir } = place;
  let stored: Partial<Credentials> = {};
  try {
    stored = JSON.parse(await readFile(file, "utf8")) as Partial<Credentials>;
    await ensurePrivateFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  if (!stored.superuser && place.outside && !place.linked && existsSync(dataDir)) {
    log?.(`removing the cluster in ${dataDir}: the .data/ it belonged to was deleted`);
    await rm(dataDir, { recursive: true, force: true });
  }
  if (!stored.superuser && existsSync(join(dataDir, "PG_VERSION"))) {
    throw new Error(
      `${file} is missing, so the database in ${dataDir} cannot be entered; delete ${dataDir} to start afresh`,
    );
  }
  const credentials: Credentials = {
    superuser: stored.superuser ?? password(),
    roles: { ...stored.roles },
  };
  for (const service of services) credentials.roles[service] ??= password();
  if (JSON.stringify(credentials) !== JSON.stringify(stored)) {
    await writePrivateFile(file, `${JSON.stringify(credentials, null, 2)}\n`);
  }
  return credentials;
}

/**
 * npm start's database, supervised: started before the services, stopped after them (`stop`
 * may come while it is still starting). `log` gets the server's log lines; `onExit` is called
 * if it stops without being asked to.
 */
export function superviseDatabase(
  services: readonly string[],
  log: (line: string) => void,
  onExit: () => void,
): { ready: Promise<void>; urls: Record<string, string>; stop(): Promise<void> } {
  const urls: Record<string, string> = {};
  let stopping = false;
  const started = (async () => {
    const port = Number(process.env.POSTGRES_PORT || defaultPort);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`POSTGRES_PORT must be a port number (got "${process.env.POSTGRES_PORT}")`);
    }
    const databases = await startServiceDatabases({ root: ".data", port, services, log });
    Object.assign(urls, databases.urls);
    databases.server.child.once("exit", () => {
      if (!stopping) onExit();
    });
    return databases.server;
  })();
  return {
    ready: started.then(() => {}),
    urls,
    stop: async () => {
      stopping = true;
      const server = await started.catch(() => undefined);
      await server?.stop();
    },
  };
}

// Not 5432, so that a PostgreSQL already installed on the machine does not collide with it.
const defaultPort = 54329;
