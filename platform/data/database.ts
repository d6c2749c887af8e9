// The service's own database: PostgreSQL through postgres.js and drizzle, with its migrations
// applied on open. `npm start` runs an embedded server and hands each service its DATABASE_URL.
import type { sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { ConfigError } from "../config.js";
import { causes } from "../errors.js";
import { tracingOn } from "../observability/tracing.js";
import { tracedSql } from "../observability/tracing-sql.js";
import { connectionOptions } from "./postgres-connection.js";

// biome-ignore lint/suspicious/noExplicitAny: drizzle's result kind is the driver's; callers never see it.
export type Database<S extends Record<string, unknown>> = PgDatabase<PgQueryResultHKT, S, any>;

export interface DatabaseHandle<S extends Record<string, unknown>> {
  db: Database<S>;
  /** Resolves when the database answers a query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions<S extends Record<string, unknown>> {
  /** The service's own database, a postgres:// URL (DATABASE_URL). */
  url: string | undefined;
  schema: S;
  migrationsFolder: string;
  poolMax?: number;
}

export async function openDatabase<S extends Record<string, unknown>>(
  options: DatabaseOptions<S>,
): Promise<DatabaseHandle<S>> {
  if (!options.url) {
    throw new ConfigError(
      "invalid configuration:\n  DATABASE_URL is not set: run every process with `npm start` " +
        "(it runs an embedded PostgreSQL and gives each service its database), or set " +
        "DATABASE_URL to a postgres:// URL of this service's own database",
    );
  }
  const handle = await openPostgres(options, options.url);
  try {
    await handle.migrate();
  } catch (error) {
    await handle.close();
    throw error;
  }
  return handle;
}

async function openPostgres<S extends Record<string, unknown>>(
  options: DatabaseOptions<S>,
  target: string,
) {
  const { url, ...socket } = connectionOptions(target);
  const client = postgres(url, {
    ...socket,
    max: options.poolMax ?? 10,
    onnotice: () => {},
    connect_timeout: 10,
    idle_timeout: 60,
    // postgres.js reads the array types on every new connection and leaves that query's
    // failure unhandled when the backend is terminated right then (a process-killing
    // rejection); no Bazaar column is an array, so the query is not needed.
    fetch_types: false,
  });
  // Spans around each statement only when tracing is on: off, drizzle gets the bare client.
  const db = drizzle({
    client: tracingOn() ? tracedSql(client, url) : client,
    schema: options.schema,
  });
  return {
    db: db as Database<S>,
    ping: async () => {
      await client`select 1`;
    },
    close: () => client.end({ timeout: 5 }),
    // Replicas starting together must not run the same migration twice: hold an advisory
    // lock on one dedicated connection for the whole run.
    migrate: async () => {
      const lockClient = postgres(url, {
        ...socket,
        max: 1,
        onnotice: () => {},
        connect_timeout: 10,
      });
      try {
        await lockClient`select pg_advisory_lock(${migrationLockKey})`;
        await migrate(drizzle({ client: lockClient }), {
          migrationsFolder: options.migrationsFolder,
        });
        await lockClient`select pg_advisory_unlock(${migrationLockKey})`;
      } finally {
        await lockClient.end({ timeout: 5 });
      }
    },
  };
}

// An arbitrary constant shared by every Bazaar service; each service has its own database.
const migrationLockKey = 7_305_722_011;

/** The rows of `db.execute(...)`, typed. */
export async function executeRows<T>(
  db: Database<Record<string, unknown>>,
  query: ReturnType<typeof sql>,
): Promise<T[]> {
  return (await db.execute(query)) as unknown as T[];
}

/**
 * A PostgreSQL array literal (`{"a","b"}`) for a `$1::uuid[]`-style parameter. The pool fetches
 * no array types (fetch_types: false above), so it would not serialise a JavaScript array.
 */
export function pgArray(values: readonly (string | number)[]): string {
  return `{${values.map((value) => JSON.stringify(value)).join(",")}}`;
}

/** The SQLSTATE of a database error, looking through drizzle's wrapping, or undefined. */
export function pgErrorCode(error: unknown): string | undefined {
  for (const layer of causes(error)) {
    const code = (layer as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

export const PG_UNIQUE_VIOLATION = "23505";
export const PG_SERIALIZATION_FAILURE = "40001";
export const PG_DEADLOCK_DETECTED = "40P01";

// How postgres.js and PostgreSQL say the connection, not the query, failed: no connection slot
// left (53300), the server shut the backend down (57P01–57P03, e.g. pg_terminate_backend), a
// connection exception (class 08), or the socket went away.
const connectionLost =
  /^(53300|57P0[123]|08[0-9A-Z]{3}|CONNECTION_(CLOSED|DESTROYED|ENDED)|CONNECT_TIMEOUT|ECONN(RESET|REFUSED)|EPIPE|ETIMEDOUT)$/;

/**
 * Whether `error` is a transaction that lost to a concurrent one (a serialization failure or
 * a deadlock victim): nothing of it was written, and the same request may simply be retried.
 */
export function isTransactionConflict(error: unknown): boolean {
  const code = pgErrorCode(error);
  return code === PG_SERIALIZATION_FAILURE || code === PG_DEADLOCK_DETECTED;
}

/** Whether `error` says the database could not be reached, so a retry may well succeed. */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (const layer of causes(error)) {
    const code = (layer as { code?: unknown }).code;
    if (typeof code === "string" && connectionLost.test(code)) return true;
  }
  return false;
}
