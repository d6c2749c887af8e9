// What one order costs besides time, for bench:orders: the RPCs each service served and the
// transactions each service's database committed, per order placed, read from the services'
// /metrics and PostgreSQL's pg_stat_database.
//
// PostgreSQL counts a backend's transactions in shared memory only every second or so, and an
// idle backend's last ones when it exits: read the transactions once the services are gone.
import type postgres from "postgres";

export interface CountedService {
  name: string;
  /** Its scratch database's name. */
  database: string;
  /** Its base URL, serving /metrics. */
  url: string;
}

/** RPCs served by method, per service: `account BatchGetAccounts` → count. */
export type RpcCounts = Map<string, number>;

export async function rpcCounts(services: readonly CountedService[]): Promise<RpcCounts> {
  const counts = new Map<string, number>();
  for (const service of services) {
    const text = await (await fetch(`${service.url}/metrics`)).text();
    for (const match of text.matchAll(
      /^rpc_server_handled_total\{[^}]*grpc_method="(\w+)"[^}]*\} (\d+)/gm,
    )) {
      const key = `${service.name} ${match[1]}`;
      counts.set(key, (counts.get(key) ?? 0) + Number(match[2]));
    }
  }
  return counts;
}

/** Committed transactions (read-only ones included) per database. */
export async function transactionCounts(
  admin: postgres.Sql,
  services: readonly CountedService[],
): Promise<Map<string, number>> {
  const rows = await admin<{ datname: string; xact_commit: string }[]>`
    select datname, xact_commit::text from pg_stat_database
    where datname in ${admin(services.map((s) => s.database))}`;
  const byDatabase = new Map(rows.map((row) => [row.datname, Number(row.xact_commit)]));
  return new Map(services.map((s) => [s.name, byDatabase.get(s.database) ?? 0]));
}

/** `after − before` per key, divided by `orders`, as `key 1.23` items (zeros left out). */
export function perOrder(
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
  orders: number,
): string {
  const items = [...after]
    .map(([key, n]) => [key, (n - (before.get(key) ?? 0)) / Math.max(1, orders)] as const)
    .filter(([, n]) => n > 0)
    .map(([key, n]) => `${key} ${n.toFixed(2)}`);
  return items.length === 0 ? "none" : items.join(", ");
}
