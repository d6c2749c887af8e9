// How a postgres:// URL becomes a postgres.js connection, TCP or Unix socket. Kept apart from
// database.ts (drizzle, migrations, tracing) so the supervisor and scripts can use it alone.
import postgres from "postgres";

/**
 * postgres.js's connection settings for a postgres:// URL. A `host` query parameter naming a
 * directory (libpq's way: `postgres://bazaar@localhost/catalog?host=/run/postgresql`) connects
 * over the server's Unix socket there instead of TCP, whose writes cost the client less than
 * loopback TCP's (`bench:orders`: 296 and 273 orders/s against 247 and 254, alternating).
 */
export function connectionOptions(url: string): { url: string; path?: string } {
  const parsed = new URL(url);
  const directory = parsed.searchParams.get("host");
  if (!directory?.startsWith("/")) return { url };
  parsed.searchParams.delete("host");
  return { url: parsed.toString(), path: `${directory}/.s.PGSQL.${parsed.port || 5432}` };
}

/**
 * A bare postgres.js client for `url` (Unix socket URLs included), for the few places outside a
 * service's store that need one: tests, benchmarks, the embedded server's set-up.
 */
export function openSql(url: string, options: postgres.Options<Record<string, never>> = {}) {
  const { url: target, ...socket } = connectionOptions(url);
  return postgres(target, { onnotice: () => {}, ...socket, ...options });
}
