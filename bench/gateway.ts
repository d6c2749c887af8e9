// Gateway benchmark (`npm run bench:gateway`): in one run and on the same data, measures a bare
// Node HTTP server (this machine's ceiling), a direct Connect call to ListProducts(take 20), the
// gateway's `{ products(pagination:{take:20}) { id name price } }` over Connect and over gRPC,
// the same query through Hive Gateway over the same catalog, over Connect JSON and over gRPC from
// the proto (bench/hive.ts; installed on first use, else reported as not measured), and the
// 3-level nested accounts → orders → products query, and the flat query and the direct call
// again with each request asking a different page (nothing to share between them); prints
// req/s, p50/p99, CPU per request and ratios.
//
// Every server is its own process (as under `npm start`), on the embedded PostgreSQL with its
// data in a temporary directory, with LOG_LEVEL=warn so per-request log lines do not dominate.
// Load comes from `wrk` when it is installed (a C load generator costs the measured processes
// the least CPU), else from a small keep-alive loop in this process.
//
// Settings: `npm run bench:gateway -- --help` (bench/options.ts).
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeArgs, type ProcessName } from "../platform/processes.js";
import { answersOk, freePort, waitUntil } from "../platform/testing.js";
import { type ServiceDatabases, startServiceDatabases } from "../scripts/postgres.js";
import { developmentAdmin } from "../services/account/config.js";
import { type Hive, type HiveSource, hiveScenarios, hiveVersion, prepareHive } from "./hive.js";
import {
  loadGenerator,
  processCpuSeconds,
  type Result,
  runLoad,
  type Target,
  waitReady,
} from "./load.js";
import { benchOptions } from "./options.js";

const { seconds, connections, profile } = benchOptions("bench:gateway", {
  seconds: { default: 8, help: "seconds per scenario" },
  connections: { default: 32, help: "requests in flight" },
  profile: { default: false, help: "CPU profiles of the gateway and services in bench/profiles" },
});
const root = new URL("..", import.meta.url).pathname;
const profiles = join(root, "bench/profiles");
// Node with its V8 options and tsx's loader, as `npm start -- --tsx` runs each process (no tsx
// CLI process in between); a profile directory per process (`label`: the gateway runs twice),
// since tsx's loader thread writes a profile beside the main one.
const node = (name: ProcessName, label: string = name) => [
  process.execPath,
  ...(profile ? ["--cpu-prof", "--cpu-prof-dir", join(profiles, label)] : []),
  ...nodeArgs(name, "sources"),
];
const work = mkdtempSync(join(tmpdir(), "bazaar-bench-"));
chmodSync(work, 0o711); // the embedded server may run as the postgres user
const children: ChildProcess[] = [];
let databases: ServiceDatabases | undefined;

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

async function gql(url: string, query: string, token?: string) {
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
async function cpuSeconds(base: string | number): Promise<number> {
  if (typeof base === "number") return processCpuSeconds(base);
  const get = () => fetch(`${base}/metrics`).then((res) => res.text());
  // Once more on a fresh socket if a pooled one was closed by the server's keep-alive timeout.
  const text = await get().catch(get);
  return Number(/^process_cpu_seconds_total(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
}

async function main() {
  const [bare, account, catalog, order, gateway, gatewayGrpc, hivePort, hiveGrpcPort] =
    await Promise.all(Array.from({ length: 8 }, freePort));
  const url = (port: number | undefined) => `http://127.0.0.1:${port}`;
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

  process.stdout.write("seeding: 100 products, 20 customers with 2 orders each …\n");
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
  for (let i = 0; i < 20; i++) {
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
  }

  for (const hive of hives) {
    if (!hive.process) continue;
    const reason = await hiveAnswersLikeOurs(hive.source, hive.process, url(hive.port), gw);
    if (reason) hiveSkipped.set(hive.source, reason);
  }

  const productsQuery = JSON.stringify({
    query: "{ products(pagination:{take:20}) { id name price } }",
  });
  // 80 different pages of 20 products, asked in turn: requests in flight together differ, so
  // nothing is shared between them, neither by the gateway nor by the catalog.
  const pages = Array.from({ length: 80 }, (_, skip) => skip);
  const nestedQuery = JSON.stringify({
    query: "{ accounts(pagination:{take:50}) { orders { products { product { name } } } } }",
  });
  const targets: Target[] = [
    { name: "bare node http", url: `${url(bare)}/`, cpu: {} },
    {
      name: "direct Connect GetProduct",
      url: `${url(catalog)}/bazaar.catalog.v1.CatalogService/GetProduct`,
      body: JSON.stringify({ id: productIds[0] }),
      cpu: { catalog: url(catalog) },
    },
    {
      name: "direct Connect ListProducts(take 20)",
      url: `${url(catalog)}/bazaar.catalog.v1.CatalogService/ListProducts`,
      body: JSON.stringify({ take: 20 }),
      cpu: { catalog: url(catalog) },
    },
    {
      name: "gateway products(take 20)",
      url: `${gw}/graphql`,
      body: productsQuery,
      graphql: true,
      cpu: { gateway: gw, catalog: url(catalog) },
    },
    // Right after ours, so that they meet the machine in the same state.
    ...hives.flatMap((hive): Target[] =>
      !hiveSkipped.has(hive.source) && hive.process?.pid
        ? [
            {
              name: hiveScenarios[hive.source].name,
              url: `${url(hive.port)}/graphql`,
              body: JSON.stringify({ query: hiveScenarios[hive.source].query }),
              graphql: true,
              cpu: { hive: hive.process.pid, catalog: url(catalog) },
            },
          ]
        : [],
    ),
    {
      name: "gateway products, gRPC backend",
      url: `${url(gatewayGrpc)}/graphql`,
      body: productsQuery,
      graphql: true,
      cpu: { gateway: url(gatewayGrpc), catalog: url(catalog) },
    },
    {
      name: "direct Connect ListProducts, distinct pages",
      url: `${url(catalog)}/bazaar.catalog.v1.CatalogService/ListProducts`,
      bodies: pages.map((skip) => JSON.stringify({ skip, take: 20 })),
      cpu: { catalog: url(catalog) },
    },
    {
      name: "gateway products, distinct pages",
      url: `${gw}/graphql`,
      bodies: pages.map((skip) =>
        JSON.stringify({
          query:
            "query ($skip: Int!) { products(pagination:{skip:$skip,take:20}) { id name price } }",
          variables: { skip },
        }),
      ),
      graphql: true,
      cpu: { gateway: gw, catalog: url(catalog) },
    },
    {
      name: "gateway nested 3-level query",
      url: `${gw}/graphql`,
      body: nestedQuery,
      graphql: true,
      headers: { authorization: `Bearer ${adminToken}` },
      cpu: { gateway: gw, account: url(account), order: url(order), catalog: url(catalog) },
    },
  ];

  process.stdout.write(
    `load: ${loadGenerator}, ${connections} connections, ${seconds} s per scenario after a 2 s warm-up\n\n`,
  );
  const results: Result[] = [];
  // CPU µs per request by scenario, then by process.
  const cpuOf = new Map<string, Record<string, number>>();
  for (const target of targets) {
    // BENCH_ONLY=<regexp> runs only the matching scenarios (the bare server always), for
    // profiling one path; the ratios printed at the end then mean nothing.
    const only = process.env.BENCH_ONLY;
    if (only && target !== targets[0] && !new RegExp(only, "i").test(target.name)) {
      results.push({ name: target.name, requests: 0, rps: Number.NaN, p50: 0, p99: 0, errors: 0 });
      continue;
    }
    // CPU time per request is steadier than req/s on a shared machine: it is what each
    // process spends, whatever else competes for the cores.
    const run = (duration: number) =>
      runLoad(target, { seconds: duration, connections, workDir: work });
    await run(2); // warm-up: JIT, connection pools, caches
    const before = await Promise.all(Object.values(target.cpu).map(cpuSeconds));
    const result = await run(seconds);
    const after = await Promise.all(Object.values(target.cpu).map(cpuSeconds));
    results.push(result);
    const micros = Object.fromEntries(
      Object.keys(target.cpu).map((name, i) => [
        name,
        (((after[i] ?? 0) - (before[i] ?? 0)) * 1e6) / result.requests,
      ]),
    );
    cpuOf.set(target.name, micros);
    const cpu = Object.entries(micros)
      .map(([name, us]) => `${name} ${us.toFixed(0)}`)
      .join(", ");
    process.stdout.write(
      `${result.name.padEnd(38)} ${result.rps.toFixed(0).padStart(8)} req/s   p50 ${result.p50.toFixed(2).padStart(7)} ms   p99 ${result.p99.toFixed(2).padStart(7)} ms${cpu ? `   CPU µs/req: ${cpu}` : ""}${result.errors ? `   ${result.errors} errors` : ""}\n`,
    );
  }
  for (const [source, reason] of hiveSkipped) {
    process.stdout.write(`${hiveScenarios[source].name.padEnd(38)} not measured: ${reason}\n`);
  }
  const of = (name: string) => results.find((result) => result.name === name) as Result;
  const bareResult = of("bare node http");
  const getProduct = of("direct Connect GetProduct");
  const direct = of("direct Connect ListProducts(take 20)");
  const viaGateway = of("gateway products(take 20)");
  const viaGrpc = of("gateway products, gRPC backend");
  const nested = of("gateway nested 3-level query");
  const directDistinct = of("direct Connect ListProducts, distinct pages");
  const viaGatewayDistinct = of("gateway products, distinct pages");
  const ratio = (a: Result, b: Result) => (a.rps / b.rps).toFixed(2);
  const versusHive = (source: HiveSource) => {
    const { name, label } = hiveScenarios[source];
    const skipped = hiveSkipped.get(source);
    if (skipped) return `gateway flat / ${label} = not measured (${skipped})`;
    // The steadier figure on a shared machine: what each gateway process spent per request.
    const cpu = (
      (cpuOf.get(name)?.hive ?? Number.NaN) /
      (cpuOf.get("gateway products(take 20)")?.gateway ?? Number.NaN)
    ).toFixed(2);
    return `gateway flat / ${label} = ${ratio(viaGateway, of(name))}×   (target ≥ 2×; Hive Gateway ${hiveVersion}; its CPU per request = ${cpu}× our gateway's)`;
  };
  // Yoga caches each document's parse and validation: only the first of a kind is validated.
  const validated = /^graphql_documents_validated_total(?:\{[^}]*\})? (\S+)$/m.exec(
    await fetch(`${gw}/metrics`).then((res) => res.text()),
  )?.[1];
  process.stdout.write(
    [
      "",
      `GetProduct/bare = ${ratio(getProduct, bareResult)}×   (target ≥ 0.10×)`,
      `gateway/direct = ${ratio(viaGateway, direct)}×   (target ≥ 0.9×)`,
      `gateway/bare   = ${ratio(viaGateway, bareResult)}×`,
      `gateway/direct, distinct pages = ${ratio(viaGatewayDistinct, directDistinct)}×   (nothing shared)`,
      `gateway over gRPC / over Connect = ${ratio(viaGrpc, viaGateway)}×`,
      versusHive("connect-json"),
      versusHive("grpc"),
      `nested/flat    = ${ratio(nested, viaGateway)}×   (target ≥ 0.5×)`,
      `documents validated by the gateway: ${validated} (for ${viaGateway.requests + nested.requests} requests)`,
      "",
    ].join("\n"),
  );
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

async function cleanUp(): Promise<void> {
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

main()
  .then(cleanUp)
  .catch(async (error: unknown) => {
    process.stderr.write(`benchmark failed: ${(error as Error)?.stack ?? String(error)}\n`);
    await cleanUp();
    process.exitCode = 1;
  });
