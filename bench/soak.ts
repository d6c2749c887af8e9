// `npm run bench:soak` (issue 11 item 5): mixed traffic through the gateway (browse 80%,
// search 15%, order 5%) on real PostgreSQL, the fault suite's real processes, with the catalog
// killed (-9) and restarted in the middle. Passes when the only errors are OUT_OF_STOCK and the
// UNAVAILABLEs while the catalog was down, each process's RSS is flat after warm-up, and the
// stock reconciles exactly; writes its summary as a section of bench/results/latest.md.
//
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench:soak [-- --seconds 60]
//
// With --rolling (issue 20): two replicas of every service behind round-robin balancers
// (faults/replica-stack.ts) and, instead of the kill, a rolling restart under the same traffic:
// each replica of each service in turn gets SIGTERM (it leaves its balancer's rotation, drains,
// exits), is started again, and the next one goes once it is ready. Passes when the only
// errors are OUT_OF_STOCK and the stock reconciles exactly; writes bench/results/rolling.md.
// Over 300 lines on purpose: one scenario (traffic mix, the kill, the rolling restart, the
// RSS and reconciliation checks) reads top to bottom in one place.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { type ReplicaStack, services, startReplicaStack } from "../faults/replica-stack.js";
import { type Stack, startStack } from "../faults/stack.js";
import { nodeArgs } from "../platform/processes.js";
import { freePort } from "../platform/testing.js";
import { adminAuth, customer, product } from "../services/order/testing.js";
import { benchOptions } from "./options.js";

const options = benchOptions("bench:soak", {
  seconds: { default: 60, help: "seconds of traffic" },
  clients: { default: 16, help: "concurrent clients" },
  "down-seconds": { default: 5, help: "how long the catalog stays dead" },
  rolling: { default: false, help: "two replicas each, restarted one at a time under traffic" },
});
const root = fileURLToPath(new URL("..", import.meta.url));
const stockEach = 400;
const words = ["Product", "Description", "1", "2", "3", "7"];
type Kind = "browse" | "search" | "order";
type Name = "account" | "catalog" | "order" | "gateway";

const rssMb = (pid: number | undefined): number => {
  if (pid === undefined) return Number.NaN;
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024;
};
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;

async function startGateway(stack: Stack): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, nodeArgs("gateway", "sources"), {
    cwd: root,
    env: {
      ...process.env,
      NODE_ENV: "test",
      LOG_LEVEL: process.env.SOAK_LOG_LEVEL ?? "silent",
      HOST: "127.0.0.1",
      PORT: String(port),
      ACCOUNT_URL: stack.url.account,
      CATALOG_URL: stack.url.catalog,
      ORDER_URL: stack.url.order,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  process.once("exit", () => child.kill("SIGKILL"));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    const up = await fetch(`${url}/graphql?query=%7B__typename%7D`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return { url, child };
    await sleep(100);
  }
  throw new Error("the gateway never answered");
}

const replicated: ReplicaStack | undefined = options.rolling
  ? await startReplicaStack()
  : undefined;
const single: Stack | undefined = replicated ? undefined : await startStack();
const stack = (replicated ?? single) as Pick<
  Stack,
  "authority" | "catalog" | "accounts" | "db" | "close"
>;
const gateway = replicated ? replicated.gateway : await startGateway(single as Stack);
const pidOf = (name: Name) => (name === "gateway" ? gateway.child.pid : single?.pid(name));
const admin = await adminAuth(stack.authority);
const ids: string[] = [];
for (let i = 0; i < 30; i++) ids.push(await product(stack.catalog, admin, 100 + i, stockEach));
const buyers = await Promise.all(
  Array.from({ length: 10 }, () => customer(stack.accounts, stack.authority)),
);

const latencies: Record<Kind, number[]> = { browse: [], search: [], order: [] };
const counts: Record<Kind, number> = { browse: 0, search: 0, order: 0 };
const errors = new Map<string, number>();
const unexpected: string[] = [];
let down: { from: number; to: number } | undefined;
const acknowledged: string[] = [];
let seq = 0;

async function one(kind: Kind): Promise<void> {
  const n = seq++;
  const buyer = buyers[n % buyers.length];
  const body =
    kind === "browse"
      ? { query: `{ products(pagination: { skip: ${n % 20}, take: 10 }) { id name price stock } }` }
      : kind === "search"
        ? { query: `{ products(query: "${words[n % words.length]}") { id name price } }` }
        : {
            query: `mutation ($o: OrderInput!) { createOrder(order: $o) { id totalPrice } }`,
            variables: {
              o: {
                products: [{ id: ids[n % ids.length], quantity: 1 + (n % 3) }],
                idempotencyKey: `soak-${n}`,
              },
            },
          };
  const started = performance.now();
  const res = await fetch(`${gateway.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${buyer?.token}` },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as {
    data?: { createOrder?: { id: string } };
    errors?: { extensions?: { code?: string } }[];
  };
  const ms = performance.now() - started;
  counts[kind]++;
  if (!answer.errors) {
    latencies[kind].push(ms);
    if (answer.data?.createOrder) acknowledged.push(answer.data.createOrder.id);
    return;
  }
  const code = answer.errors[0]?.extensions?.code ?? `HTTP ${res.status}`;
  errors.set(`${kind} ${code}`, (errors.get(`${kind} ${code}`) ?? 0) + 1);
  const now = Date.now();
  // UNAVAILABLE is expected while the catalog is dead, and for a moment after it is back
  // (connections re-established, the order service's retries running out).
  const whileDown =
    !options.rolling && down !== undefined && now >= down.from && now <= down.to + 3_000;
  if (code === "OUT_OF_STOCK" || (code === "UNAVAILABLE" && whileDown)) return;
  unexpected.push(`${kind}: ${code} at +${((now - began) / 1000).toFixed(1)} s`);
}

const began = Date.now();
// A rolling restart keeps the traffic going until every replica was restarted, and a little.
let endAt = began + options.seconds * 1000;
const names: Name[] = ["account", "catalog", "order", "gateway"];
const rss: Record<Name, { start: number; end: number }> = Object.fromEntries(
  names.map((n) => [n, { start: Number.NaN, end: Number.NaN }]),
) as Record<Name, { start: number; end: number }>;

const clients = Array.from({ length: options.clients }, async () => {
  while (Date.now() < endAt) {
    const r = Math.random();
    await one(r < 0.8 ? "browse" : r < 0.95 ? "search" : "order").catch((error: unknown) => {
      unexpected.push(`client: ${(error as Error).message}`);
    });
  }
});

// Each replica of each service in turn: SIGTERM, wait for it to exit, start it again, wait
// until it is ready, next. Traffic runs from before the first until after the last.
const restarts: string[] = [];
const rolling = async (stack: ReplicaStack) => {
  await sleep(Math.min(10_000, options.seconds * 150));
  const from = Date.now();
  for (const service of services) {
    for (const replica of stack.replicas[service]) {
      const started = Date.now();
      await stack.stop(replica, "SIGTERM");
      const stopped = Date.now();
      await stack.start(replica);
      restarts.push(
        `${service} ${replica.index}: drained and exited in ${((stopped - started) / 1000).toFixed(1)} s, ready again ${((Date.now() - stopped) / 1000).toFixed(1)} s later`,
      );
    }
  }
  down = { from, to: Date.now() };
  endAt = Math.max(endAt, Date.now() + 3_000);
};

// Warm-up, then the start RSS; the catalog killed in the middle, its start RSS taken again
// once its new process warmed up; the end RSS as traffic stops.
const chaos = (async () => {
  if (replicated) return rolling(replicated);
  const warmUp = Math.min(10_000, options.seconds * 150);
  await sleep(warmUp);
  for (const n of names) rss[n].start = rssMb(pidOf(n));
  await sleep(Math.max(0, began + options.seconds * 400 - Date.now()));
  down = { from: Date.now(), to: Number.POSITIVE_INFINITY };
  await single?.kill("catalog");
  await sleep(options["down-seconds"] * 1000);
  await single?.start("catalog");
  down.to = Date.now();
  await sleep(Math.min(warmUp, Math.max(0, endAt - Date.now() - 2_000)));
  rss.catalog.start = rssMb(pidOf("catalog"));
  await sleep(Math.max(0, endAt - Date.now() - 500));
  for (const n of names) rss[n].end = rssMb(pidOf(n));
})();
await Promise.all([...clients, chaos]);
const downFor = down ? ((down.to - down.from) / 1000).toFixed(1) : "?";

// Reconciliation: once nothing is pending, initial − current = Σ confirmed per product, and
// every acknowledged order is confirmed.
let open = { orders: -1, reservations: -1 };
for (let i = 0; i < 240 && (open.orders !== 0 || open.reservations !== 0); i++) {
  if (i > 0) await sleep(250);
  const [orders] = await stack.db.order`
    select count(*)::int as n from orders where status = 'pending' or not settled`;
  const [reservations] = await stack.db.catalog`
    select count(*)::int as n from reservations where state = 'pending'`;
  open = { orders: orders?.n as number, reservations: reservations?.n as number };
}
const sold = await stack.db.order`
  select i.product_id, sum(i.quantity)::int as units from order_items i
  join orders o on o.id = i.order_id where o.status = 'confirmed' group by i.product_id`;
const stock = await stack.db.catalog`
  select product_id, stock from product_stock where product_id = any(${ids}::uuid[])`;
const soldOf = new Map(sold.map((r) => [r.product_id as string, r.units as number]));
const mismatched = stock.filter(
  (r) => stockEach - (r.stock as number) !== (soldOf.get(r.product_id as string) ?? 0),
);
const [confirmed] = await stack.db.order`
  select count(*)::int as n from orders where id = any(${acknowledged}::uuid[])
  and status = 'confirmed'`;
const exact =
  open.orders === 0 &&
  open.reservations === 0 &&
  mismatched.length === 0 &&
  confirmed?.n === acknowledged.length;
const unitsSold = [...soldOf.values()].reduce((a, b) => a + b, 0);

gateway.child.kill("SIGTERM");
await stack.close();
if (replicated) writeRolling();

function writeRolling(): never {
  const total = counts.browse + counts.search + counts.order;
  const passed = unexpected.length === 0 && exact;
  const line = (kind: Kind) => {
    const sorted = latencies[kind].sort((a, b) => a - b);
    return `| ${kind} | ${counts[kind]} | ${percentile(sorted, 50).toFixed(1)} ms | ${percentile(sorted, 99).toFixed(1)} ms |`;
  };
  const summary =
    `Rolling restart: ${restarts.length} replicas restarted one at a time in ${downFor} s under ` +
    `${total} requests from ${options.clients} clients; unexpected errors ${unexpected.length}` +
    ` (${[...errors].map(([k, v]) => `${k} ×${v}`).join(", ") || "no errors"}); reconciliation ` +
    `${exact ? "EXACT" : "MISMATCH"}: ${acknowledged.length} orders acknowledged (${confirmed?.n} confirmed), ` +
    `${unitsSold} units sold on ${stock.length} products, ${mismatched.length} mismatched. **${passed ? "PASS" : "FAIL"}**.`;
  const section = [
    `# Rolling restart — ${new Date(began).toISOString()}`,
    "",
    "`npm run bench:soak -- --rolling`: two replicas of account, catalog and order behind " +
      "round-robin balancers that follow /readyz, one gateway, the soak's mixed traffic " +
      "(browse 80%, search 15%, order 5%); every replica in turn gets SIGTERM (readiness fails " +
      "at once, it serves 1 s more, drains, exits), starts again, and the next goes once it is ready.",
    "",
    summary,
    "",
    "| traffic | requests | p50 | p99 |",
    "|---|---|---|---|",
    line("browse"),
    line("search"),
    line("order"),
    "",
    ...restarts.map((r) => `- ${r}`),
    "",
    `Unexpected: ${unexpected.length === 0 ? "none" : unexpected.slice(0, 10).join("; ")}.`,
  ].join("\n");
  mkdirSync(join(root, "bench/results"), { recursive: true });
  writeFileSync(join(root, "bench/results/rolling.md"), `${section}\n`);
  process.stdout.write(`${section}\n\nwrote bench/results/rolling.md\n`);
  process.exit(passed ? 0 : 1);
}

// Flat: within 25% (and 30 MB) of the RSS after warm-up.
const flat = names.every((n) => rss[n].end <= rss[n].start * 1.25 + 30);
const total = counts.browse + counts.search + counts.order;
const line = (kind: Kind) => {
  const sorted = latencies[kind].sort((a, b) => a - b);
  return `| ${kind} | ${counts[kind]} (${((counts[kind] / total) * 100).toFixed(0)}%) | ${percentile(sorted, 50).toFixed(1)} ms | ${percentile(sorted, 99).toFixed(1)} ms |`;
};
const passed = unexpected.length === 0 && flat && exact;
const section = [
  `## Soak — ${new Date(began).toISOString()}`,
  "",
  `\`npm run bench:soak\`: ${options.seconds} s, ${options.clients} clients through the gateway, ` +
    `catalog killed (-9) at +${(options.seconds * 0.4).toFixed(0)} s and back after ${downFor} s. ` +
    `**${passed ? "PASS" : "FAIL"}**.`,
  "",
  "| traffic | requests | p50 | p99 |",
  "|---|---|---|---|",
  line("browse"),
  line("search"),
  line("order"),
  "",
  `Errors: ${[...errors].map(([k, v]) => `${k} ×${v}`).join(", ") || "none"}; ` +
    `unexpected: ${unexpected.length === 0 ? "none" : unexpected.slice(0, 5).join("; ")}.`,
  "",
  "| process | RSS after warm-up | RSS at the end |",
  "|---|---|---|",
  ...names.map(
    (n) =>
      `| ${n}${n === "catalog" ? " (restarted)" : ""} | ${rss[n].start.toFixed(0)} MB | ${rss[n].end.toFixed(0)} MB |`,
  ),
  "",
  `Memory ${flat ? "flat" : "GREW"} after warm-up. Reconciliation ${exact ? "EXACT" : "MISMATCH"}: ` +
    `${acknowledged.length} orders acknowledged (${confirmed?.n} confirmed), ${unitsSold} units sold ` +
    `on ${stock.length} products, ${mismatched.length} mismatched, pending left ${JSON.stringify(open)}.`,
].join("\n");

const latest = join(root, "bench/results/latest.md");
mkdirSync(join(root, "bench/results"), { recursive: true });
const previous = existsSync(latest) ? readFileSync(latest, "utf8") : "";
// Replace this benchmark's own section; keep everything `npm run bench` wrote.
const kept = previous.replace(/\n*## Soak — [\s\S]*?(?=\n## |$)/, "").trimEnd();
writeFileSync(latest, `${kept ? `${kept}\n\n` : ""}${section}\n`);
process.stdout.write(`${section}\n\nwrote bench/results/latest.md\n`);
process.exit(passed ? 0 : 1);
