// What one order costs besides time, for bench:orders: the RPCs each service served and the
// transactions each service's database committed, per order placed, read from the services'
// /metrics and PostgreSQL's pg_stat_database.
//
// PostgreSQL counts a backend's transactions in shared memory only every second or so, and an
// idle backend's last ones when it exits: read the transactions once the services are gone.
import type postgres from "postgres";
import { processCpuSeconds } from "./load.js";

export interface CountedService {
  name: string;
  /** Its scratch database's name. */
  database: string;
  /** Its base URL, serving /metrics. */
  url: string;
}

/**
 * RPCs served by method, per service (`account BatchGetAccounts` → count), and the seconds the
 * service spent serving them, from receiving the call to its answer.
 */
export interface RpcCounts {
  calls: Map<string, number>;
  seconds: Map<string, number>;
}

export async function rpcCounts(services: readonly CountedService[]): Promise<RpcCounts> {
  const calls = new Map<string, number>();
  const seconds = new Map<string, number>();
  const add = (into: Map<string, number>, key: string, n: number) =>
    into.set(key, (into.get(key) ?? 0) + n);
  for (const service of services) {
    const text = await (await fetch(`${service.url}/metrics`)).text();
    for (const match of text.matchAll(
      /^rpc_server_handl(ed_total|ing_seconds_sum)\{[^}]*grpc_method="(\w+)"[^}]*\} ([\d.e+-]+)/gm,
    )) {
      const key = `${service.name} ${match[2]}`;
      add(match[1] === "ed_total" ? calls : seconds, key, Number(match[3]));
    }
  }
  return { calls, seconds };
}

/** The mean time each method took to serve over the calls made between `before` and `after`. */
export function meanTimes(before: RpcCounts, after: RpcCounts): string {
  return [...after.calls]
    .map(([key, n]) => {
      const calls = n - (before.calls.get(key) ?? 0);
      const s = (after.seconds.get(key) ?? 0) - (before.seconds.get(key) ?? 0);
      return { key, calls, ms: (1000 * s) / Math.max(1, calls) };
    })
    .filter((m) => m.calls > 0)
    .map((m) => `${m.key} ${m.ms.toFixed(1)} ms`)
    .join(", ");
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

/**
 * CPU seconds spent so far by the PostgreSQL backends serving `databases` (their pooled
 * connections live as long as the run, so a difference of two readings is what they did).
 */
export async function backendCpuSeconds(
  admin: postgres.Sql,
  databases: readonly string[],
): Promise<number> {
  const rows = await admin<{ pid: number }[]>`
    select pid from pg_stat_activity where datname in ${admin(databases)}`;
  return rows.map((row) => processCpuSeconds(row.pid)).reduce((a, b) => a + (b || 0), 0);
}
