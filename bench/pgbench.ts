// pgbench's TPC-B on the server bench:orders uses: what PostgreSQL itself does with 64 clients
// of short write transactions on this machine (issue 21's second reference for orders). pgbench
// comes with the PostgreSQL server package (Debian's postgresql-15, as on CI); without it the
// figure says "not installed".
import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";

const run = promisify(execFile);

const pgbenchPath = ["/usr/lib/postgresql/15/bin/pgbench", "pgbench"].find((path) =>
  path.startsWith("/") ? existsSync(path) : spawnSync(path, ["--version"]).error === undefined,
);

export type PgbenchResult = { tps: number } | { skipped: string };

/**
 * TPC-B (pgbench's default script) at scale 10 in `databaseUrl` (a scratch database it fills),
 * `clients` clients on 2 threads for `seconds`, prepared statements.
 */
export async function pgbenchTpcB(
  databaseUrl: string,
  clients: number,
  seconds: number,
): Promise<PgbenchResult> {
  if (!pgbenchPath) return { skipped: "not installed" };
  let stdout: string;
  try {
    await run(pgbenchPath, ["-i", "-q", "-s", "10", databaseUrl], { maxBuffer: 1 << 24 });
    ({ stdout } = await run(
      pgbenchPath,
      ["-c", String(clients), "-j", "2", "-T", String(seconds), "-M", "prepared", databaseUrl],
      { maxBuffer: 1 << 24 },
    ));
  } catch (error) {
    // e.g. too many connections on a server shared with other clients.
    const stderr = (error as { stderr?: string }).stderr?.trim().split("\n").at(-1);
    return { skipped: `failed: ${stderr ?? (error as Error).message}` };
  }
  const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1] ?? Number.NaN);
  return Number.isFinite(tps)
    ? { tps }
    : { skipped: `output not understood: ${stdout.slice(-200)}` };
}
