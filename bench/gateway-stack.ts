// The processes bench:gateway measures, started as `npm start` starts them (each its own
// process, node with its V8 options and tsx's loader), on the embedded PostgreSQL with its data in
// a temporary directory, LOG_LEVEL=warn so that per-request log lines do not dominate; a bare
// node:http server (the machine's ceiling); Hive Gateway over the same catalog when it can be
// installed (bench/hive.ts); and the data every scenario reads: 100 products, 100 customers with
// 2 orders each, one product with ample stock for the order scenarios, and 100,000 past orders
// by other customers (bench/history.ts).
// Over 300 lines on purpose: every process bench:gateway starts, seeds and stops, in one place.
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeArgs, type ProcessName, processes } from "../platform/processes.js";
import { answersOk, freePort, waitUntil } from "../platform/testing.js";
import { type ServiceDatabases, startServiceDatabases } from "../scripts/postgres.js";
import { developmentAdmin } from "../services/account/config.js";
import { seedOrderHistory } from "./history.js";
import { type Hive, type HiveSource, hiveScenarios, prepareHive } from "./hive.js";
import { processCpuSeconds, waitReady } from "./load.js";

const root = new URL("..", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "bazaar-bench-"));
chmodSync(work, 0o711); // the embedded server may run as the postgres user
const children: ChildProcess[] = [];

/**
 * Customers seeded, each with 2 orders of 3 products: more than the nested query's 50 accounts,
 * so that it has pages of 50 that differ (`skip` 0 to 49) for its distinct-pages scenario.
 */
export const customers = 100;
let databases: ServiceDatabases | undefined;

export interface Stack {
  /** The bench's temporary directory (wrk's scripts go there too). */
  work: string;
  bare: string;
  account: string;
  catalog: string;
  order: string;
  gateway: string;
  gatewayGrpc: string;
  /** A gateway calling the services with BACKEND_PROTOCOL=connect-h2. */
  gatewayH2: string;
  /** The hop alone (bench/hop.ts): the gateway's client and answer without GraphQL. */
  hop: string;
  hopPid: number;
  adminToken: string;
  productIds: string[];
  /** A customer's token and a product with ample stock, for the order scenarios. */
  customerToken: string;
  orderProductId: string;
  hives: { source: HiveSource; port: number; process?: ChildProcess }[];
  /** Why each Hive Gateway is not measured, when it is not. */
  hiveSkipped: Map<HiveSource, string>;
}

export const url = (port: number | undefined) => `http://127.0.0.1:${port}`;

/**
 * Starts every process and seeds the data; with `profile`, each of ours writes a CPU profile
 * into bench/profiles/<label> (a directory per process: tsx's loader thread writes its own).
 */
export async function startStack(profile: boolean): Promise<Stack> {
  const node = (name: ProcessName, label: string = name) => [
    process.execPath,
    ...(profile ? ["--cpu-prof", "--cpu-prof-dir", join(root, "bench/profiles", label)] : []),
    ...nodeArgs(name, "sources"),
  ];
  const [
    bare,
    account,
    catalog,
    order,
    gateway,
    gatewayGrpc,
    gatewayH2,
    hop,
    hivePort,
    hiveGrpcPort,
  ] = await Promise.all(Array.from({ length: 10 }, freePort));
  // Development keys: each service makes its own under the bench's directory.
  const common = { AUTH_KEYS_DIR: join(work, "keys"), HOST: "127.0.0.1" };
  const peers = {
    ACCOUNT_URL: url(account),
    CATALOG_URL: url(catalog),
    ORDER_URL: url(order),
  };

  // First, while nothing else runs: the first run installs Hive Gateway (about a minute).
  const hives: { source: HiveSource; port: number; prepared: Hive; process?: ChildProcess }[] = [];
  for (const [source, port] of [
    ["connect-json", hivePort],
    ["grpc", hiveGrpcPort],
  ] as const) {
    const prepared = await prepareHive(source, url(catalog), work);
    hives.push({ source, port: port as number, prepared });
  }
  // Why each Hive Gateway is not measured, when it is not.
  const hiveSkipped = new Map<HiveSource, string>();
  for (const hive of hives)
    if (!hive.prepared.ok) hiveSkipped.set(hive.source, hive.prepared.reason);

  process.stdout.write(`starting servers (data in ${work}) …\n`);
  databases = await startServiceDatabases({
    root: join(work, ".data"),
    port: await freePort(),
    services: ["account", "catalog", "order"],
  });
  start("bare", [process.execPath, "-e", bareServer(bare as number)], {});
  start("account", node("account"), {
    ...common,
    PORT: String(account),
    DATABASE_URL: databases.urls.account as string,
    // Every bench customer signs up from this one address.
    SIGNUP_MAX_PER_CLIENT: "1000",
  });
  start("catalog", node("catalog"), {
    ...common,
    PORT: String(catalog),
    DATABASE_URL: databases.urls.catalog as string,
    ACCOUNT_URL: url(account),
    SEED_DEMO_DATA: "false",
  });
  start("order", node("order"), {
    ...common,
    ...peers,
    PORT: String(order),
    DATABASE_URL: databases.urls.order as string,
  });
  start("gateway", node("gateway"), {
    HOST: "127.0.0.1",
    ...peers,
    PORT: String(gateway),
  });
  start("gateway-grpc", node("gateway", "gateway-grpc"), {
    HOST: "127.0.0.1",
    ...peers,
    PORT: String(gatewayGrpc),
    BACKEND_PROTOCOL: "grpc",
  });
  start("gateway-h2", node("gateway", "gateway-h2"), {
    HOST: "127.0.0.1",
    ...peers,
    PORT: String(gatewayH2),
    BACKEND_PROTOCOL: "connect-h2",
  });
  // With the gateway's V8 options, so that only what it runs differs.
  const hopProcess = start(
    "hop",
    [
      process.execPath,
      ...(profile ? ["--cpu-prof", "--cpu-prof-dir", join(root, "bench/profiles/hop")] : []),
      ...processes.gateway.nodeOptions,
      "--import",
      "tsx",
      "bench/hop.ts",
    ],
    { ...peers, PORT: String(hop) },
  );
  for (const hive of hives) {
    if (!hive.prepared.ok) continue;
    const { args, cwd } = hive.prepared;
    const name = hive.source === "grpc" ? "hive-grpc" : "hive";
    hive.process = start(
      name,
      [...args, "--host", "127.0.0.1", "--port", String(hive.port)],
      {},
      cwd,
    );
  }
  await waitReady(`${url(bare)}/`);
  await waitReady(`${url(gateway)}/readyz`);
  await waitReady(`${url(gatewayGrpc)}/readyz`);
  await waitReady(`${url(gatewayH2)}/readyz`);
  await waitReady(`${url(hop)}/readyz`);

  process.stdout.write(`seeding: 100 products, ${customers} customers with 2 orders each …\n`);
  const gw = url(gateway);
  const admin = (await gql(
    gw,
    `mutation { login(email: "${developmentAdmin.email}", password: "${developmentAdmin.password}") { token } }`,
  )) as { login: { token: string } };
  const adminToken = admin.login.token;
  const productIds: string[] = [];
  for (let i = 0; i < 100; i++) {
    const made = (await gql(
      gw,
      `mutation { createProduct(product: { name: "Product ${i}", description: "A fine thing number ${i}", price: ${(i + 1) * 1.25}, stock: 100000 }) { id } }`,
      adminToken,
    )) as { createProduct: { id: string } };
    productIds.push(made.createProduct.id);
  }
  const customer = async (i: number) => {
    await gql(
      gw,
      `mutation { createAccount(account: { name: "Customer ${i}", email: "c${i}@bench.test", password: "benchmark-pw" }) { id } }`,
    );
    const login = (await gql(
      gw,
      `mutation { login(email: "c${i}@bench.test", password: "benchmark-pw") { token } }`,
    )) as { login: { token: string } };
    for (let k = 0; k < 2; k++) {
      const items = [0, 1, 2].map(
        (j) => `{ id: "${productIds[(i * 3 + k + j) % 40]}", quantity: 1 }`,
      );
      await gql(
        gw,
        `mutation { createOrder(order: { products: [${items.join(", ")}] }) { id } }`,
        login.login.token,
      );
    }
  };
  // Ten at a time: each sign-up and login hashes a password.
  for (let i = 0; i < customers; i += 10) {
    await Promise.all(
      Array.from({ length: Math.min(10, customers - i) }, (_, j) => customer(i + j)),
    );
  }

  for (const hive of hives) {
    if (!hive.process) continue;
    const reason = await hiveAnswersLikeOurs(hive.source, hive.process, url(hive.port), gw);
    if (reason) hiveSkipped.set(hive.source, reason);
  }

  // A customer of its own for the order scenarios, so that the orders they place do not grow
  // what the nested query reads, and one product that cannot run out.
  await gql(
    gw,
    `mutation { createAccount(account: { name: "Orderer", email: "orderer@bench.test", password: "benchmark-pw" }) { id } }`,
  );
  const orderer = (await gql(
    gw,
    `mutation { login(email: "orderer@bench.test", password: "benchmark-pw") { token } }`,
  )) as { login: { token: string } };
  const ample = (await gql(
    gw,
    `mutation { createProduct(product: { name: "Ample", description: "Never runs out", price: 2.5, stock: 1000000 }) { id } }`,
    adminToken,
  )) as { createProduct: { id: string } };
  // A shop's past, analyzed, as bench:orders has (bench/history.ts).
  await seedOrderHistory({
    orders: 100_000,
    orderUrl: databases.urls.order as string,
    catalogUrl: databases.urls.catalog as string,
    productIds: [ample.createProduct.id, ...productIds],
  });

  return {
    work,
    bare: url(bare),
    account: url(account),
    catalog: url(catalog),
    order: url(order),
    gateway: gw,
    gatewayGrpc: url(gatewayGrpc),
    gatewayH2: url(gatewayH2),
    hop: url(hop),
    hopPid: hopProcess.pid as number,
    adminToken,
    productIds,
    customerToken: orderer.login.token,
    orderProductId: ample.createProduct.id,
    hives,
    hiveSkipped,
  };
}

function start(
  name: string,
  args: string[],
  env: Record<string, string>,
  cwd = root,
): ChildProcess {
  const child = spawn(args[0] as string, args.slice(1), {
    cwd,
    env: { ...process.env, NODE_ENV: "test", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    // Hive Gateway writes a bare newline as it stops.
    if (chunk.toString().trim()) process.stderr.write(`[${name}] ${chunk}`);
  });
  children.push(child);
  return child;
}

export async function gql(url: string, query: string, token?: string) {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query }),
  });
  const body = (await res.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
  if (body.errors) throw new Error(`${query.slice(0, 60)}…: ${JSON.stringify(body.errors)}`);
  return body.data as Record<string, unknown>;
}

/**
 * A process's CPU seconds so far, from its Prometheus metrics (a base URL), or for a process that
 * has none (a pid: Hive Gateway) from /proc: the same user + system time of all its threads.
 */
export async function cpuSeconds(base: string | number): Promise<number> {
  if (typeof base === "number") return processCpuSeconds(base);
  const get = () => fetch(`${base}/metrics`).then((res) => res.text());
  // Once more on a fresh socket if a pooled one was closed by the server's keep-alive timeout.
  const text = await get().catch(get);
  return Number(/^process_cpu_seconds_total(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
}

/**
 * Whether Hive Gateway answers the same 20 products as our gateway (undefined), else why not:
 * a GraphQL error comes back with status 200, which wrk would count as a fast success. The same
 * ids, names and prices: its cents (an int64, which each source hands over as a string or a
 * number) are our price in currency units.
 */
async function hiveAnswersLikeOurs(
  source: HiveSource,
  hive: ChildProcess,
  hiveUrl: string,
  ours: string,
): Promise<string | undefined> {
  const { label, field, price, query } = hiveScenarios[source];
  try {
    await waitUntil(`${hiveUrl}/readiness`, () => {
      if (hive.exitCode !== null) throw new Error(`it exited with ${hive.exitCode}`);
      return answersOk(`${hiveUrl}/readiness`);
    });
    const mine = (await gql(ours, "{ products(pagination:{take:20}) { id name price } }")) as {
      products: { id: string; name: string; price: number }[];
    };
    const theirs = (await gql(hiveUrl, query)) as Record<
      string,
      { products: Record<string, string | number>[] }
    >;
    const want = mine.products.map((p) => `${p.id} ${p.name} ${p.price.toFixed(2)}`).join();
    const got = theirs[field]?.products
      .map((p) => `${p.id} ${p.name} ${(Number(p[price]) / 100).toFixed(2)}`)
      .join();
    return got === want && mine.products.length === 20
      ? undefined
      : `${label} answered other products than ours (ids, names or prices)`;
  } catch (error) {
    return `${label} did not answer: ${(error as Error).message}`;
  }
}

function bareServer(port: number): string {
  return `require("node:http").createServer((req, res) => { res.writeHead(200, { "content-type": "application/json" }); res.end('{"ok":true}'); }).listen(${port}, "127.0.0.1");`;
}

export async function cleanUp(): Promise<void> {
  // SIGTERM lets each service drain and close its database before the data goes.
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => {
            child.kill("SIGKILL");
            resolve();
          }, 15_000);
          child.once("exit", () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill("SIGTERM");
        }),
    ),
  );
  await databases?.server.stop();
  rmSync(work, { recursive: true, force: true });
}
