// The replica suite's stack: every service as several real processes on its one database (as
// an operator scales it), a round-robin balancer in front of each service's replicas
// (balancer.ts), and a gateway calling the balancers. A scenario kills, stops or restarts any
// replica and counts the stock straight from the databases.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type postgres from "postgres";
import { AccountService } from "../gen/bazaar/account/v1/account_pb.js";
import { CatalogService } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { OrderService } from "../gen/bazaar/order/v1/order_pb.js";
import { TestAuthority } from "../platform/auth/auth-testing.js";
import { openSql } from "../platform/data/postgres-connection.js";
import { nodeArgs } from "../platform/processes.js";
import { answersOk, createScratchDatabase, freePort, waitUntil } from "../platform/testing.js";
import { type Balancer, startBalancer } from "./balancer.js";
import { clocks, type ServiceName } from "./stack.js";

export const services: readonly ServiceName[] = ["account", "catalog", "order"];

export interface ReplicaStackOptions {
  /** Replicas of each service. */
  replicas?: number;
  /**
   * "authority": every process gets its keys in the environment (AUTH_*), as in production;
   * "development": none, so each service makes and publishes its key in a shared folder at
   * its first start, as `npm start` does (the key discovery path).
   */
  keys?: "authority" | "development";
  /** Variables for every process of a service, over the defaults. */
  env?: Partial<Record<ServiceName | "gateway", Record<string, string>>>;
  /** Start every replica at once (a fresh start) instead of one service after another. */
  allAtOnce?: boolean;
}

export interface Replica {
  service: ServiceName;
  index: number;
  port: number;
  url: string;
  child: ChildProcess | undefined;
}

export interface ReplicaStack {
  authority: TestAuthority;
  replicas: Record<ServiceName, Replica[]>;
  balancers: Record<ServiceName, Balancer>;
  db: Record<ServiceName, postgres.Sql>;
  gateway: { url: string; child: ChildProcess };
  /** Clients through each service's balancer. */
  accounts: Client<typeof AccountService>;
  catalog: Client<typeof CatalogService>;
  orders: Client<typeof OrderService>;
  /** A client of one replica, bypassing the balancer. */
  direct<T extends typeof AccountService | typeof CatalogService | typeof OrderService>(
    service: T,
    replica: Replica,
  ): Client<T>;
  /** Sends `signal` and waits for the process to exit. */
  stop(replica: Replica, signal?: NodeJS.Signals): Promise<void>;
  /** Starts the replica's process again on its port; resolves once it is ready. */
  start(replica: Replica): Promise<void>;
  /** Starts every replica a scenario left dead. */
  ensureUp(): Promise<void>;
  close(): Promise<void>;
}

export async function startReplicaStack(options: ReplicaStackOptions = {}): Promise<ReplicaStack> {
  const count = options.replicas ?? 2;
  const authority = new TestAuthority();
  const scratch = Object.fromEntries(
    await Promise.all(services.map(async (n) => [n, await createScratchDatabase()] as const)),
  ) as Record<ServiceName, { url: string; drop(): Promise<void> }>;
  const keysParent = await mkdtemp(join(tmpdir(), "bazaar-replica-keys-"));
  const replicas = {} as Record<ServiceName, Replica[]>;
  for (const service of services) {
    replicas[service] = [];
    for (let index = 0; index < count; index++) {
      const port = await freePort();
      replicas[service].push({
        service,
        index,
        port,
        url: `http://127.0.0.1:${port}`,
        child: undefined,
      });
    }
  }
  const balancers = Object.fromEntries(
    await Promise.all(
      services.map(async (n) => [n, await startBalancer(replicas[n].map((r) => r.port))] as const),
    ),
  ) as Record<ServiceName, Balancer>;
  const peers: Record<ServiceName, Record<string, string>> = {
    account: {},
    catalog: { ORDER_URL: balancers.order.url, ACCOUNT_URL: balancers.account.url },
    order: { ACCOUNT_URL: balancers.account.url, CATALOG_URL: balancers.catalog.url },
  };
  const children = new Set<ChildProcess>();
  process.once("exit", () => {
    for (const child of children) child.kill("SIGKILL");
  });
  const logLevel = process.env.FAULTS_LOG_LEVEL ?? "silent";

  const start = async (replica: Replica) => {
    const { child } = replica;
    if (child && child.exitCode === null && child.signalCode === null) {
      throw new Error(`${replica.service} ${replica.index} is still running`);
    }
    const keys =
      options.keys === "development"
        ? { AUTH_KEYS_DIR: join(keysParent, "keys") }
        : authority.env(replica.service);
    const started = spawn(process.execPath, nodeArgs(replica.service, "sources"), {
      env: {
        ...process.env,
        ...clocks,
        ...peers[replica.service],
        NODE_ENV: "test",
        LOG_LEVEL: logLevel,
        ...keys,
        DATABASE_URL: scratch[replica.service].url,
        HOST: "127.0.0.1",
        PORT: String(replica.port),
        // Settings that must differ between replicas: each order replica's own sagas.
        INSTANCE_ID: `${replica.service}-${replica.index}`,
        // Out of the balancer's rotation (it polls every 100 ms) before the port closes.
        SHUTDOWN_DRAIN_MS: "1000",
        // Seven processes share this machine's cores: a burst must not meet the fault suite's
        // 800 ms peer deadline (made to expire under SIGSTOP), and recovery waits longer.
        PEER_TIMEOUT_MS: "3000",
        // Six services' pools on one shared PostgreSQL server.
        DATABASE_POOL_MAX: "4",
        RECOVERY_AFTER_MS: "8000",
        ...options.env?.[replica.service],
      },
      stdio: ["ignore", "inherit", "inherit"],
    });
    replica.child = started;
    children.add(started);
    started.once("exit", () => children.delete(started));
    await ready(replica.url, started);
  };
  const all = services.flatMap((n) => replicas[n]);
  if (options.allAtOnce) await Promise.all(all.map(start));
  else for (const replica of all) await start(replica);

  const gatewayPort = await freePort();
  const gatewayChild = spawn(process.execPath, nodeArgs("gateway", "sources"), {
    env: {
      ...process.env,
      NODE_ENV: "test",
      LOG_LEVEL: logLevel,
      HOST: "127.0.0.1",
      PORT: String(gatewayPort),
      ACCOUNT_URL: balancers.account.url,
      CATALOG_URL: balancers.catalog.url,
      ORDER_URL: balancers.order.url,
      // As the services' peer deadline: seven processes share this machine's cores.
      BACKEND_TIMEOUT_MS: "15000",
      ...options.env?.gateway,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  children.add(gatewayChild);
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  await ready(gatewayUrl, gatewayChild);

  const db = Object.fromEntries(
    services.map((n) => [n, openSql(scratch[n].url, { max: 2 })]),
  ) as Record<ServiceName, postgres.Sql>;
  const client = <T extends typeof AccountService | typeof CatalogService | typeof OrderService>(
    service: T,
    base: string,
  ) => createClient(service, createConnectTransport({ baseUrl: base, httpVersion: "1.1" }));
  const stop = async (replica: Replica, signal: NodeJS.Signals = "SIGKILL") => {
    const { child } = replica;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
  };
  return {
    authority,
    replicas,
    balancers,
    db,
    gateway: { url: gatewayUrl, child: gatewayChild },
    accounts: client(AccountService, balancers.account.url),
    catalog: client(CatalogService, balancers.catalog.url),
    orders: client(OrderService, balancers.order.url),
    direct: (service, replica) => client(service, replica.url),
    stop,
    start,
    ensureUp: async () => {
      for (const replica of all) {
        replica.child?.kill("SIGCONT");
        const { child } = replica;
        if (!child || child.exitCode !== null || child.signalCode !== null) await start(replica);
      }
    },
    close: async () => {
      gatewayChild.kill("SIGKILL");
      for (const replica of all) {
        replica.child?.kill("SIGCONT");
        await stop(replica);
      }
      await Promise.all(Object.values(db).map((sql) => sql.end()));
      await Promise.all(Object.values(balancers).map((b) => b.close()));
      for (const name of services) await scratch[name].drop();
      await rm(keysParent, { recursive: true, force: true });
    },
  };
}

function ready(base: string, child: ChildProcess): Promise<void> {
  return waitUntil(
    `${base} ready`,
    () => {
      if (child.exitCode !== null) throw new Error(`${base}: the process exited at start`);
      return answersOk(`${base}/readyz`);
    },
    { timeoutMs: 60_000 },
  );
}
