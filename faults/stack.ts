// The fault suite's stack: account, catalog and order as real child processes on real
// PostgreSQL (one scratch database each), order ⇄ catalog through TCP proxies that a scenario
// can cut, and what a scenario needs to hurt them (kill -9, SIGSTOP, pg_terminate_backend) and
// to count the stock afterwards straight from the databases.
import { type ChildProcess, spawn } from "node:child_process";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type postgres from "postgres";
import { AccountService } from "../gen/bazaar/account/v1/account_pb.js";
import { CatalogService } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { OrderService } from "../gen/bazaar/order/v1/order_pb.js";
import { TestAuthority } from "../platform/auth/auth-testing.js";
import type { ServiceName } from "../platform/auth/keys.js";
import { openSql } from "../platform/data/postgres-connection.js";
import { nodeArgs } from "../platform/processes.js";
import { answersOk, createScratchDatabase, freePort, waitUntil } from "../platform/testing.js";
import { startTcpProxy, type TcpProxy, targetOf } from "./tcp-proxy.js";

export type { ServiceName };

/** Short clocks, so that recovery, the TTL and the sweeper all act within a scenario. */
export const clocks = {
  PEER_TIMEOUT_MS: "800",
  RECOVERY_AFTER_MS: "4000",
  RECOVERY_INTERVAL_MS: "1000",
  RESERVATION_TTL_SECONDS: "3",
  SWEEP_INTERVAL_SECONDS: "1",
};

export interface Stack {
  authority: TestAuthority;
  url: Record<ServiceName, string>;
  db: Record<ServiceName, postgres.Sql>;
  /** order → catalog and catalog → order. */
  proxies: { toCatalog: TcpProxy; toOrder: TcpProxy };
  accounts: Client<typeof AccountService>;
  catalog: Client<typeof CatalogService>;
  orders: Client<typeof OrderService>;
  kill(name: ServiceName, signal?: NodeJS.Signals): Promise<void>;
  signal(name: ServiceName, signal: NodeJS.Signals): void;
  /** The running process of `name` (the soak reads its RSS). */
  pid(name: ServiceName): number | undefined;
  start(name: ServiceName): Promise<void>;
  /** Starts whatever a failed scenario left dead, and resumes what it left stopped. */
  ensureUp(): Promise<void>;
  /** Terminates every PostgreSQL backend of `name`'s database; returns how many. */
  terminateBackends(name: ServiceName): Promise<number>;
  /**
   * A gateway process in front of the stack (on a free port, ready when this resolves), with
   * `env` over its defaults; `onLine` receives its stdout line by line. Stopped by `close`.
   */
  startGateway(options?: {
    env?: Record<string, string>;
    onLine?: (line: string) => void;
  }): Promise<{ url: string; child: ChildProcess }>;
  close(): Promise<void>;
}

export async function startStack(): Promise<Stack> {
  const authority = new TestAuthority();
  const names: ServiceName[] = ["account", "catalog", "order"];
  const scratch = Object.fromEntries(
    await Promise.all(names.map(async (n) => [n, await createScratchDatabase()] as const)),
  ) as Record<ServiceName, { url: string; drop(): Promise<void> }>;
  const ports = Object.fromEntries(
    await Promise.all(names.map(async (n) => [n, await freePort()] as const)),
  ) as Record<ServiceName, number>;
  const url = Object.fromEntries(names.map((n) => [n, `http://127.0.0.1:${ports[n]}`])) as Record<
    ServiceName,
    string
  >;
  const proxies = { toCatalog: await startTcpProxy(), toOrder: await startTcpProxy() };
  proxies.toCatalog.target = targetOf(url.catalog);
  proxies.toOrder.target = targetOf(url.order);
  const env: Record<ServiceName, Record<string, string>> = {
    account: {},
    catalog: { ORDER_URL: proxies.toOrder.url, ACCOUNT_URL: url.account },
    order: {
      ACCOUNT_URL: url.account,
      CATALOG_URL: proxies.toCatalog.url,
      INSTANCE_ID: "order-fault-suite",
    },
  };
  const children = new Map<ServiceName, ChildProcess>();
  const gateways: ChildProcess[] = [];
  // Whatever happens to this test process, its children do not outlive it.
  process.once("exit", () => {
    for (const child of [...children.values(), ...gateways]) child.kill("SIGKILL");
  });
  const start = async (name: ServiceName) => {
    const previous = children.get(name);
    if (previous && previous.exitCode === null && previous.signalCode === null) {
      throw new Error(`${name} is still running`);
    }
    const child = spawn(process.execPath, nodeArgs(name, "sources"), {
      env: {
        ...process.env,
        ...clocks,
        ...env[name],
        NODE_ENV: "test",
        LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? "silent",
        ...authority.env(name),
        DATABASE_URL: scratch[name].url,
        HOST: "127.0.0.1",
        PORT: String(ports[name]),
      },
      stdio: ["ignore", "inherit", "inherit"],
    });
    children.set(name, child);
    await ready(url[name], child);
  };
  for (const name of names) await start(name);
  const db = Object.fromEntries(
    names.map((n) => [n, openSql(scratch[n].url, { max: 2 })]),
  ) as Record<ServiceName, postgres.Sql>;
  const admin = openSql(process.env.TEST_DATABASE_URL ?? "", { max: 1 });
  const client = <T extends typeof AccountService | typeof CatalogService | typeof OrderService>(
    service: T,
    base: string,
  ) => createClient(service, createConnectTransport({ baseUrl: base, httpVersion: "1.1" }));
  const kill = async (name: ServiceName, signal: NodeJS.Signals = "SIGKILL") => {
    const child = children.get(name);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
  };
  return {
    authority,
    url,
    db,
    proxies,
    accounts: client(AccountService, url.account),
    catalog: client(CatalogService, url.catalog),
    orders: client(OrderService, url.order),
    kill,
    signal: (name, signal) => children.get(name)?.kill(signal),
    pid: (name) => children.get(name)?.pid,
    start,
    ensureUp: async () => {
      proxies.toCatalog.heal();
      proxies.toOrder.heal();
      for (const name of names) {
        const child = children.get(name);
        child?.kill("SIGCONT");
        if (!child || child.exitCode !== null || child.signalCode !== null) await start(name);
      }
    },
    terminateBackends: async (name) => {
      const database = new URL(scratch[name].url).pathname.slice(1);
      const rows = await admin`
        select pg_terminate_backend(pid) from pg_stat_activity
        where datname = ${database} and pid <> pg_backend_pid()`;
      return rows.length;
    },
    startGateway: async ({ env: extra = {}, onLine } = {}) => {
      const port = await freePort();
      const gateway = spawn(process.execPath, nodeArgs("gateway", "sources"), {
        env: {
          ...process.env,
          NODE_ENV: "test",
          LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? "silent",
          HOST: "127.0.0.1",
          PORT: String(port),
          ACCOUNT_URL: url.account,
          CATALOG_URL: url.catalog,
          ORDER_URL: url.order,
          ...extra,
        },
        stdio: ["ignore", onLine ? "pipe" : "inherit", "inherit"],
      });
      gateways.push(gateway);
      let partial = "";
      gateway.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) onLine?.(line);
      });
      const base = `http://127.0.0.1:${port}`;
      await ready(base, gateway);
      return { url: base, child: gateway };
    },
    close: async () => {
      for (const gateway of gateways) gateway.kill("SIGKILL");
      for (const name of names) {
        children.get(name)?.kill("SIGCONT");
        await kill(name);
      }
      await Promise.all(Object.values(db).map((sql) => sql.end()));
      await admin.end();
      await proxies.toCatalog.close();
      await proxies.toOrder.close();
      for (const name of names) await scratch[name].drop();
    },
  };
}

function ready(base: string, child: ChildProcess): Promise<void> {
  return waitUntil(`${base} ready`, () => {
    if (child.exitCode !== null) throw new Error(`${base}: the process exited at start`);
    return answersOk(`${base}/readyz`);
  });
}
