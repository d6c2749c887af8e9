// Order benchmark: the three services as child processes on real PostgreSQL (a scratch
// database each), 64 concurrent clients placing orders for 30 s against plenty of stock, then
// orders/s, latency percentiles and a stock reconciliation that must balance exactly.
//
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench:orders -- [--seconds 30] [--clients 64]
//
// DATABASE_URL (or TEST_DATABASE_URL) names the server; its database is used only to create
// and drop the scratch ones. Settings: `--help` (bench/options.ts); BENCH_LOG_LEVEL shows the
// services' logs.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpus } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AccountService } from "../gen/bazaar/account/v1/account_pb.js";
import { CatalogService } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { OrderService } from "../gen/bazaar/order/v1/order_pb.js";
import { TestAuthority } from "../platform/auth/auth-testing.js";
import { isServiceName } from "../platform/auth/keys.js";
import { openSql } from "../platform/data/postgres-connection.js";
import { nodeArgs, type ProcessName } from "../platform/processes.js";
import { freePort } from "../platform/testing.js";
import { processCpuSeconds } from "./load.js";
import { benchOptions } from "./options.js";

const {
  seconds: durationS,
  clients,
  products: productCount,
  profile,
} = benchOptions("bench:orders", {
  seconds: { default: 30, help: "how long the clients place orders" },
  clients: { default: 64, help: "concurrent clients" },
  products: { default: 20, help: "products the orders draw from" },
  profile: { default: false, help: "write a --cpu-prof profile per service to bench/profiles/" },
});
const initialStock = 1_000_000;
const base = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!base) {
  process.stderr.write(
    "bench:orders needs DATABASE_URL or TEST_DATABASE_URL (a postgres:// URL)\n",
  );
  process.exit(2);
}
const root = fileURLToPath(new URL("..", import.meta.url));
const authority = new TestAuthority();

const scratch: string[] = [];
const admin = openSql(base, { max: 1 });
async function scratchDatabase(service: string): Promise<string> {
  const name = `bazaar_bench_${service}_${randomBytes(4).toString("hex")}`;
  await admin.unsafe(`create database ${name}`);
  scratch.push(name);
  const url = new URL(base as string);
  url.pathname = `/${name}`;
  return url.toString();
}

const children: ChildProcess[] = [];
const names: string[] = [];

async function startService(name: ProcessName, env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const profiling = profile
    ? // A directory per service: tsx's loader thread writes a profile of its own.
      ["--cpu-prof", `--cpu-prof-dir=${root}bench/profiles/${name}`]
    : [];
  const child = spawn(process.execPath, [...profiling, ...nodeArgs(name, "sources")], {
    cwd: root,
    env: {
      ...process.env,
      NODE_ENV: "test",
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn",
      ...(isServiceName(name) ? authority.env(name) : {}),
      HOST: "127.0.0.1",
      PORT: String(port),
      // Each service's pool; BENCH_POOL_MAX compares sizes.
      DATABASE_POOL_MAX: process.env.BENCH_POOL_MAX ?? "20",
      ...env,
    },
    stdio: ["ignore", process.env.BENCH_LOG_LEVEL ? "inherit" : "ignore", "inherit"],
  });
  children.push(child);
  names.push(name);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) return url;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${name} did not become ready`);
    await sleep(100);
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function main(): Promise<boolean> {
  const [accountDb, catalogDb, orderDb] = await Promise.all([
    scratchDatabase("account"),
    scratchDatabase("catalog"),
    scratchDatabase("order"),
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
  const transport = (baseUrl: string) =>
    createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true });
  const accounts = createClient(AccountService, transport(accountUrl));
  const catalog = createClient(CatalogService, transport(catalogUrl));
  const orders = createClient(OrderService, transport(orderUrl));
  const adminAuth = {
    headers: {
      authorization: `Bearer ${(await authority.issueUserToken("00000000-0000-7000-8000-000000000001", "admin", 3600)).token}`,
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
      const { token } = await authority.issueUserToken(id, "customer", 3600);
      return { id, auth: { headers: { authorization: `Bearer ${token}` } } };
    }),
  );

  process.stdout.write(
    `placing orders: ${clients} clients for ${durationS} s (${productCount} products, stock ${initialStock} each)\n`,
  );
  const latencies: number[] = [];
  const failures = new Map<string, number>();
  const acknowledged = new Map<string, number>();
  const cpuAtStart = children.map((child) => processCpuSeconds(child.pid));
  const started = performance.now();
  const stopAt = started + durationS * 1000;
  await Promise.all(
    customers.map(async (buyer) => {
      while (performance.now() < stopAt) {
        const lines = 1 + Math.floor(Math.random() * 3);
        const items = Array.from({ length: lines }, () => ({
          productId: productIds[Math.floor(Math.random() * productIds.length)] ?? "",
          quantity: 1 + Math.floor(Math.random() * 3),
        }));
        const t0 = performance.now();
        try {
          const { order } = await orders.createOrder(
            { items, idempotencyKey: randomBytes(8).toString("hex") },
            buyer.auth,
          );
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
  const elapsedS = (performance.now() - started) / 1000;
  // CPU of the load phase alone: setup (sign-ups hash passwords) would blur the per-order cost.
  const loadCpuS = children
    .map((child, i) => processCpuSeconds(child.pid) - (cpuAtStart[i] ?? 0))
    .reduce((a, b) => a + b, 0);
  latencies.sort((a, b) => a - b);

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
  const cpu = children.map(
    (child, i) => `${names[i]} ${processCpuSeconds(child.pid).toFixed(1)} s`,
  );
  const lines = [
    `orders placed:   ${latencies.length} in ${elapsedS.toFixed(1)} s = ${(latencies.length / elapsedS).toFixed(0)} orders/s`,
    `latency:         p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))}, max ${ms(latencies.at(-1) ?? Number.NaN)}`,
    `service CPU:     ${cpu.join(", ")} (whole run, setup included; ${cpus().length} cores)`,
    `load CPU:        ${loadCpuS.toFixed(1)} s in all services while placing = ${((1000 * loadCpuS) / Math.max(1, latencies.length)).toFixed(1)} ms per order`,
    `failed calls:    ${failures.size === 0 ? "none" : [...failures].map(([c, n]) => `${c} ${n}`).join(", ")}`,
    `reconciliation:  stock sold ${total(sold)} = ordered quantities recorded ${total(recorded)} (${recordedOrders} orders) = acknowledged to clients ${total(acknowledged)}: ${mismatched.length === 0 ? "EXACT" : `MISMATCH on ${mismatched.join(", ")}`}${settledS >= 0.5 ? ` (after ${settledS.toFixed(1)} s of recovery)` : ""}`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  return mismatched.length === 0 && recordedOrders === latencies.length;
}

let ok = false;
try {
  ok = await main();
} finally {
  for (const child of children) child.kill("SIGTERM");
  await Promise.all(
    children.map((child) =>
      child.exitCode !== null ? undefined : new Promise((resolve) => child.once("exit", resolve)),
    ),
  );
  for (const name of scratch) await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.end();
}
process.exit(ok ? 0 : 1);
