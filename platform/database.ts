// The service's own database: real PostgreSQL through postgres.js when DATABASE_URL is set,
// otherwise embedded PGlite on disk. Both sit behind one drizzle type and one migration path.
import { mkdir } from "node:fs/promises";
import { type Extensions, PGlite } from "@electric-sql/pglite";
import type { sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { causes } from "./errors.js";

// biome-ignore lint/suspicious/noExplicitAny: drizzle's result kind differs per driver; callers never see it.
export type Database<S extends Record<string, unknown>> = PgDatabase<PgQueryResultHKT, S, any>;

export interface DatabaseHandle<S extends Record<string, unknown>> {
  db: Database<S>;
  kind: "postgres" | "pglite";
  /** Resolves when the database answers a query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions<S extends Record<string, unknown>> {
  /** A postgres:// URL; when absent, PGlite in `dataDir` ("memory://" keeps it in memory). */
  url?: string | undefined;
  dataDir: string;
  schema: S;
  migrationsFolder: string;
  poolMax?: number;
  /** PGlite extensions to load, e.g. pg_trgm; real PostgreSQL has its contrib modules. */
  pgliteExtensions?: Extensions;
}

export async function openDatabase<S extends Record<string, unknown>>(
  options: DatabaseOptions<S>,
): Promise<DatabaseHandle<S>> {
  const handle = options.url ? await openPostgres(options, options.url) : await openPglite(options);
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
  url: string,
) {
  const client = postgres(url, {
    max: options.poolMax ?? 10,
    onnotice: () => {},
    connect_timeout: 10,
    idle_timeout: 60,
  });
  const db = drizzlePostgres({ client, schema: options.schema });
  return {
    db: db as Database<S>,
    kind: "postgres" as const,
    ping: async () => {
      await client`select 1`;
    },
    close: () => client.end({ timeout: 5 }),
    // Replicas starting together must not run the same migration twice: hold an advisory
    // lock on one dedicated connection for the whole run.
    migrate: async () => {
      const lockClient = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
      try {
        await lockClient`select pg_advisory_lock(${migrationLockKey})`;
        await migratePostgres(drizzlePostgres({ client: lockClient }), {
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

async function openPglite<S extends Record<string, unknown>>(options: DatabaseOptions<S>) {
  const inMemory = options.dataDir.startsWith("memory://");
  if (!inMemory) await mkdir(options.dataDir, { recursive: true });
  const client = await PGlite.create(
    options.dataDir,
    options.pgliteExtensions ? { extensions: options.pgliteExtensions } : {},
  );
  const db = drizzlePglite({ client, schema: options.schema });
  return {
    db: db as Database<S>,
    kind: "pglite" as const,
    ping: async () => {
      await client.query("select 1");
    },
    close: async () => {
      if (!client.closed) await client.close();
    },
    migrate: () => migratePglite(db, { migrationsFolder: options.migrationsFolder }),
  };
}

/** The rows of `db.execute(...)`: PGlite returns `{ rows }`, postgres.js an array. */
export async function executeRows<T>(
  db: Database<Record<string, unknown>>,
  query: ReturnType<typeof sql>,
): Promise<T[]> {
  const result: unknown = await db.execute(query);
  if (Array.isArray(result)) return result as T[];
  return (result as { rows: T[] }).rows;
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
