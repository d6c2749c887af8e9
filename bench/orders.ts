// Order benchmark: the three services as child processes on real PostgreSQL (a scratch
// database each), 64 concurrent clients placing orders for 30 s against plenty of stock, then
// orders/s, latency percentiles and a stock reconciliation that must balance exactly; beside
// them its references on the same server: the database-only order (bench/db-order.ts), in
// rounds alternating with CreateOrder, and pgbench's TPC-B (bench/pgbench.ts) afterwards.
//
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench:orders -- [--seconds 30] [--clients 64]
//
// Every database first gets 100,000 past orders (`--history`), then VACUUM ANALYZE, so that the
// services' prepared statements are planned as a running shop's are, not for empty tables that
// grow through the run (bench/history.ts says what that cost).
//
// The orders are placed by bench/order-client.ts: the real Connect protocol (binary protobuf,
// HTTP/1.1 keep-alive) to the real order service with each customer's real token, its request
// parts encoded once, at about a third of connect-node's generic client's CPU per order
// (`--generic-client` places them with that one instead, to compare). Its CPU per order is
// printed beside the services'.
//
// DATABASE_URL (or TEST_DATABASE_URL) names the server; its database is used only to create
// and drop the scratch ones. Settings: `--help` (bench/options.ts); BENCH_LOG_LEVEL shows the
// services' logs.
//
// Over 300 lines (396): it is one run read top to bottom, setup, the alternating rounds, the
// reconciliation, and the scratch databases and child processes they share; the references it
// runs are in their own files. Splitting the services' start-up out is next (issue 22, part 5).
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AccountService } from "../gen/bazaar/account/v1/account_pb.js";
import { CatalogService } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { OrderService } from "../gen/bazaar/order/v1/order_pb.js";
import type { ProcessName } from "../platform/processes.js";
import { databaseOnlyOrders, randomItems } from "./db-order.js";
import { seedOrderHistory } from "./history.js";
import { percentile, processCpuSeconds } from "./load.js";
import { benchOptions } from "./options.js";
import { orderClient } from "./order-client.js";
import {
  backendCpuSeconds,
  type CountedService,
  meanTimes,
  perOrder,
  rpcCounts,
  transactionCounts,
} from "./order-counts.js";
import { pgbenchTpcB } from "./pgbench.js";
import { BenchProcesses } from "./run-processes.js";

const {
  seconds: durationS,
  clients,
  products: productCount,
  rounds,
  pgbench: pgbenchSeconds,
  profile,
  "generic-client": genericClient,
  history,
} = benchOptions("bench:orders", {
  seconds: { default: 30, help: "how long the clients place orders" },
  clients: { default: 64, help: "concurrent clients" },
  products: { default: 20, help: "products the orders draw from" },
  rounds: { default: 3, help: "rounds of CreateOrder then the database-only order" },
  pgbench: {
    default: 10,
    help: "seconds of pgbench TPC-B after the orders (0: none)",
    zero: true,
  },
  profile: { default: false, help: "write a --cpu-prof profile per service to bench/profiles/" },
  "generic-client": {
    default: false,
    help: "place the orders with connect-node's generic client instead of bench/order-client.ts",
  },
  history: {
    default: 100_000,
    help: "past orders written into every database first, then analyzed (bench/history.ts)",
    zero: true,
  },
});
const initialStock = 1_000_000;
// Each service's pool, and the database-only order's; BENCH_POOL_MAX compares sizes.
const poolMax = Number(process.env.BENCH_POOL_MAX ?? 20);
const base = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!base) {
  process.stderr.write(
    "bench:orders needs DATABASE_URL or TEST_DATABASE_URL (a postgres:// URL)\n",
  );
  process.exit(2);
}
const root = fileURLToPath(new URL("..", import.meta.url));
const run = new BenchProcesses(base);

function startService(name: ProcessName, env: Record<string, string>): Promise<string> {
  const profiling = profile
    ? // A directory per service: tsx's loader thread writes a profile of its own.
      ["--cpu-prof", `--cpu-prof-dir=${root}bench/profiles/${name}`]
    : [];
  // Each service's pool; BENCH_POOL_MAX compares sizes.
  return run.start(name, { DATABASE_POOL_MAX: String(poolMax), ...env }, profiling);
}

async function main(): Promise<boolean> {
  const [accountDb, catalogDb, orderDb] = await Promise.all([
    run.scratchDatabase("account"),
    run.scratchDatabase("catalog"),
    run.scratchDatabase("order"),
  ]);
  const accountUrl = await startService("account", {
    DATABASE_URL: accountDb,
    // Every bench customer signs up from this one address.
    SIGNUP_MAX_PER_CLIENT: "1000000",
  });
  const catalogUrl = await startService("catalog", {
    DATABASE_URL: catalogDb,
    SEED_DEMO_DATA: "false",
    ACCOUNT_URL: accountUrl,
  });
  const orderUrl = await startService("order", {
    DATABASE_URL: orderDb,
    ACCOUNT_URL: accountUrl,
    CATALOG_URL: catalogUrl,
    RECOVERY_INTERVAL_MS: "1000",
  });
  const databaseName = (url: string) => new URL(url).pathname.slice(1);
  counted.push(
    { name: "account", database: databaseName(accountDb), url: accountUrl },
    { name: "catalog", database: databaseName(catalogDb), url: catalogUrl },
    { name: "order", database: databaseName(orderDb), url: orderUrl },
  );
  const transport = (baseUrl: string) =>
    createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true });
  const accounts = createClient(AccountService, transport(accountUrl));
  const catalog = createClient(CatalogService, transport(catalogUrl));
  const orders = createClient(OrderService, transport(orderUrl));
  // The load itself goes through bench/order-client.ts: the same protocol, less client CPU.
  const load = orderClient(orderUrl, clients);
  const adminAuth = {
    headers: {
      authorization: `Bearer ${(await run.authority.issueUserToken("00000000-0000-7000-8000-000000000001", "admin", 3600)).token}`,
    },
  };

  const productIds: string[] = [];
  for (let i = 0; i < productCount; i++) {
    const { product } = await catalog.createProduct(
      {
        name: `Bench product ${i}`,
        description: "for the order benchmark",
        priceCents: BigInt(1 + ((i * 7919) % 100_000)),
        stock: initialStock,
      },
      adminAuth,
    );
    productIds.push(product?.id ?? "");
  }
  const customers = await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const { account } = await accounts.createAccount({
        name: `Bench customer ${i}`,
        email: `bench-${i}-${randomBytes(3).toString("hex")}@example.com`,
        password: "bench-password",
      });
      const id = account?.id ?? "";
      const { token } = await run.authority.issueUserToken(id, "customer", 3600);
      const authorization = `Bearer ${token}`;
      return { id, auth: { headers: { authorization } }, prepared: load.customer(authorization) };
    }),
  );

  // Issue 21's reference, alternating with CreateOrder in rounds so that the machine's load
  // falls on both: the database-only order (bench/db-order.ts) on the same server.
  const referenceUrl = await run.scratchDatabase("dbonly");
  const referenceDatabase = new URL(referenceUrl).pathname.slice(1);
  const reference = await databaseOnlyOrders({
    databaseUrl: referenceUrl,
    clients,
    connections: poolMax,
    products: productCount,
    initialStock,
  });
  if (history > 0) {
    const seeding = performance.now();
    await seedOrderHistory({
      orders: history,
      orderUrl: orderDb,
      catalogUrl: catalogDb,
      productIds,
      reference: { url: referenceUrl, products: productCount },
    });
    process.stdout.write(
      `history:         ${history} past orders in each database, analyzed (${((performance.now() - seeding) / 1000).toFixed(1)} s)\n`,
    );
  }
  process.stdout.write(
    `placing orders: ${clients} clients, ${rounds} rounds of ${(durationS / rounds).toFixed(1)} s of CreateOrder then ${(durationS / rounds).toFixed(1)} s of the database-only order, alternating (${productCount} products, stock ${initialStock} each)\n`,
  );
  const latencies: number[] = [];
  const failures = new Map<string, number>();
  const acknowledged = new Map<string, number>();
  let elapsedS = 0;
  let loadCpuS = 0;
  const loadCpuByService: number[] = [];
  const referenceLatencies: number[] = [];
  let referenceS = 0;
  const profiledWindows: [number, number][] = [];
  let referenceRefused = 0;
  const serviceDatabases = counted.map((c) => c.database);
  let backendS = 0;
  let clientS = 0;
  let referenceBackendS = 0;
  let referenceClientS = 0;
  const ownCpuSeconds = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  };
  const placeOrders = async (seconds: number) => {
    const windowStart = Number(process.hrtime.bigint() / 1000n);
    const backendAtStart = await backendCpuSeconds(run.admin, serviceDatabases);
    const clientAtStart = ownCpuSeconds();
    const cpuAtStart = run.started.map(({ child }) => processCpuSeconds(child.pid));
    const started = performance.now();
    const stopAt = started + seconds * 1000;
    await Promise.all(
      customers.map(async (buyer) => {
        while (performance.now() < stopAt) {
          const items = randomItems(productIds.length).map((item) => ({
            productId: productIds[item.product] ?? "",
            quantity: item.quantity,
          }));
          const t0 = performance.now();
          try {
            const idempotencyKey = randomBytes(8).toString("hex");
            const order = genericClient
              ? (await orders.createOrder({ items, idempotencyKey }, buyer.auth)).order
              : await load.createOrder(buyer.prepared, items, idempotencyKey);
            latencies.push(performance.now() - t0);
            for (const item of order?.items ?? []) {
              acknowledged.set(
                item.productId,
                (acknowledged.get(item.productId) ?? 0) + item.quantity,
              );
            }
          } catch (error) {
            const code = Code[ConnectError.from(error).code];
            failures.set(code, (failures.get(code) ?? 0) + 1);
          }
        }
      }),
    );
    elapsedS += (performance.now() - started) / 1000;
    // CPU of the load phase alone: setup (sign-ups hash passwords) would blur the per-order cost.
    run.started.forEach(({ child }, i) => {
      const used = processCpuSeconds(child.pid) - (cpuAtStart[i] ?? 0);
      loadCpuS += used;
      loadCpuByService[i] = (loadCpuByService[i] ?? 0) + used;
    });
    clientS += ownCpuSeconds() - clientAtStart;
    profiledWindows.push([windowStart, Number(process.hrtime.bigint() / 1000n)]);
    backendS += (await backendCpuSeconds(run.admin, serviceDatabases)) - backendAtStart;
  };
  const placeReferenceOrders = async (seconds: number) => {
    const backendAtStart = await backendCpuSeconds(run.admin, [referenceDatabase]);
    const clientAtStart = ownCpuSeconds();
    const started = performance.now();
    const result = await reference.run(seconds);
    referenceClientS += ownCpuSeconds() - clientAtStart;
    referenceBackendS += (await backendCpuSeconds(run.admin, [referenceDatabase])) - backendAtStart;
    referenceS += (performance.now() - started) / 1000;
    referenceLatencies.push(...result.latencies);
    referenceRefused += result.refused;
  };
  const rpcsBefore = await rpcCounts(counted);
  transactionsBefore = await transactionCounts(run.admin, counted);
  for (let round = 0; round < rounds; round++) {
    const phases = [placeOrders, placeReferenceOrders];
    if (round % 2 === 1) phases.reverse();
    for (const phase of phases) await phase(durationS / rounds);
  }
  const rpcsAfter = await rpcCounts(counted);
  if (profile) {
    // On the clock of V8's profiles (both monotonic, in µs): bench/profile-top.ts counts only
    // the samples inside the CreateOrder rounds.
    await mkdir(`${root}bench/profiles`, { recursive: true });
    await writeFile(`${root}bench/profiles/windows.json`, JSON.stringify(profiledWindows));
  }
  const rpcsPerOrder = perOrder(rpcsBefore.calls, rpcsAfter.calls, latencies.length);
  await reference.close();
  load.close();
  latencies.sort((a, b) => a - b);
  referenceLatencies.sort((a, b) => a - b);

  // Reconciliation: what the catalog sold, what the order service recorded, what clients got.
  // A failed call whose reserve answer was lost (a deadline under load) may hold stock until
  // order recovery releases it (RECOVERY_INTERVAL_MS, 1 s here): wait for that, and say so.
  const reconcile = async () => {
    const { products } = await catalog.batchGetProducts({ ids: productIds });
    const sold = new Map(products.map((p) => [p.id, initialStock - p.stock]));
    const { accountOrders } = await orders.batchListOrdersForAccounts(
      { accountIds: customers.map((c) => c.id) },
      adminAuth,
    );
    const recorded = new Map<string, number>();
    let recordedOrders = 0;
    for (const order of accountOrders.flatMap((a) => a.orders)) {
      recordedOrders++;
      for (const item of order.items) {
        recorded.set(item.productId, (recorded.get(item.productId) ?? 0) + item.quantity);
      }
    }
    const mismatched = productIds.filter(
      (id) =>
        (sold.get(id) ?? 0) !== (recorded.get(id) ?? 0) ||
        (recorded.get(id) ?? 0) !== (acknowledged.get(id) ?? 0),
    );
    return { sold, recorded, recordedOrders, mismatched };
  };
  const loadEnded = performance.now();
  let result = await reconcile();
  while (result.mismatched.length > 0 && performance.now() - loadEnded < 60_000) {
    await sleep(500);
    result = await reconcile();
  }
  const settledS = (performance.now() - loadEnded) / 1000;
  const { sold, recorded, recordedOrders, mismatched } = result;
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  const perOrderMs = (seconds: number, orders: number) =>
    `${((1000 * seconds) / Math.max(1, orders)).toFixed(2)} ms`;
  const cpu = run.started.map(
    ({ name, child }) => `${name} ${processCpuSeconds(child.pid).toFixed(1)} s`,
  );
  const lines = [
    `orders placed:   ${latencies.length} in ${elapsedS.toFixed(1)} s = ${(latencies.length / elapsedS).toFixed(0)} orders/s`,
    `latency:         p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))}, max ${ms(latencies.at(-1) ?? Number.NaN)}`,
    `service CPU:     ${cpu.join(", ")} (whole run, setup included; ${cpus().length} cores)`,
    `load CPU:        ${loadCpuS.toFixed(1)} s in all services while placing = ${((1000 * loadCpuS) / Math.max(1, latencies.length)).toFixed(1)} ms per order`,
    `CPU per order:   services ${perOrderMs(loadCpuS, latencies.length)} (${run.started.map(({ name }, i) => `${name} ${perOrderMs(loadCpuByService[i] ?? 0, latencies.length)}`).join(", ")}), their PostgreSQL backends ${perOrderMs(backendS, latencies.length)}, the load client ${perOrderMs(clientS, latencies.length)}; the database-only order: backends ${perOrderMs(referenceBackendS, referenceLatencies.length)}, client ${perOrderMs(referenceClientS, referenceLatencies.length)}`,
    `RPCs per order:  ${rpcsPerOrder}`,
    `time serving:    ${meanTimes(rpcsBefore, rpcsAfter)} (mean per call)`,
    `failed calls:    ${failures.size === 0 ? "none" : [...failures].map(([c, n]) => `${c} ${n}`).join(", ")}`,
    `reconciliation:  stock sold ${total(sold)} = ordered quantities recorded ${total(recorded)} (${recordedOrders} orders) = acknowledged to clients ${total(acknowledged)}: ${mismatched.length === 0 ? "EXACT" : `MISMATCH on ${mismatched.join(", ")}`}${settledS >= 0.5 ? ` (after ${settledS.toFixed(1)} s of recovery)` : ""}`,
  ];
  const rate = latencies.length / elapsedS;
  const referenceRate = referenceLatencies.length / referenceS;
  lines.push(
    `database-only order: ${referenceLatencies.length} in ${referenceS.toFixed(1)} s = ${referenceRate.toFixed(0)} orders/s, p50 ${ms(percentile(referenceLatencies, 50))}, p99 ${ms(percentile(referenceLatencies, 99))}${referenceRefused ? `, ${referenceRefused} refused for stock` : ""}`,
    `CreateOrder / database-only order = ${(rate / referenceRate).toFixed(2)}×   (target ≥ 0.5×)`,
  );
  process.stdout.write(`${lines.join("\n")}\n`);
  orderRate = rate;
  ordersPlaced = latencies.length;
  return mismatched.length === 0 && recordedOrders === latencies.length;
}

/** CreateOrder's rate, for the pgbench line printed once the services are gone. */
let orderRate = Number.NaN;
/** The services and their databases' transactions before the first round, and the orders. */
const counted: CountedService[] = [];
let transactionsBefore: Map<string, number> | undefined;
let ordersPlaced = 0;

/** Read once the services are gone: their backends have then reported every transaction. */
async function transactionsPerOrder(): Promise<void> {
  if (!transactionsBefore) return;
  const after = await transactionCounts(run.admin, counted);
  process.stdout.write(
    `transactions per order: ${perOrder(transactionsBefore, after, ordersPlaced)} (the databases' xact_commit over the rounds, read-only ones and the services' background work in the database-only rounds included)\n`,
  );
}

/** pgbench's clients need the connections the services' pools held: it runs after them. */
async function tpcB(): Promise<void> {
  const rate = orderRate;
  if (pgbenchSeconds > 0) {
    const tpcB = await pgbenchTpcB(await run.scratchDatabase("pgbench"), clients, pgbenchSeconds);
    process.stdout.write(
      "tps" in tpcB
        ? `pgbench TPC-B:   ${tpcB.tps.toFixed(0)} TPS (scale 10, ${clients} clients, ${pgbenchSeconds} s); CreateOrder = ${(rate / tpcB.tps).toFixed(2)}× TPC-B's TPS\n`
        : `pgbench TPC-B:   ${tpcB.skipped}\n`,
    );
  }
}

let ok = false;
try {
  ok = await main();
} finally {
  await run.stopProcesses();
  if (ok) await transactionsPerOrder();
  if (ok) await tpcB();
  await run.dropDatabases();
}
process.exit(ok ? 0 : 1);
