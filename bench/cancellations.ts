// Cancellation benchmark: the three services as real processes (the fault suite's stack, on
// scratch databases), `--clients` customers placing orders for `--seconds` (the reference:
// CreateOrder's rate in the same run), then cancelling every one of them as fast as they can
// (CancelOrder: one transaction, then ReturnStock in the catalog). Ends with the stock
// reconciled: every product back at its initial stock, each reservation RETURNED once.
//
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm run bench:cancellations -- [--seconds 10] [--clients 32]
import { ConnectError } from "@connectrpc/connect";
import { startStack } from "../faults/stack.js";
import { adminAuth, customer, product } from "../services/order/testing.js";
import { benchOptions } from "./options.js";

const { seconds, clients } = benchOptions("bench:cancellations", {
  seconds: { default: 10, help: "seconds of placing orders, the reference" },
  clients: { default: 32, help: "concurrent customers" },
});
if (!process.env.TEST_DATABASE_URL) {
  process.stderr.write("bench:cancellations needs TEST_DATABASE_URL (a postgres:// URL)\n");
  process.exit(2);
}

const initialStock = 1_000_000;
const stack = await startStack();
let exact = false;
try {
  const admin = await adminAuth(stack.authority);
  const products = await Promise.all(
    Array.from({ length: 20 }, () => product(stack.catalog, admin, 250, initialStock)),
  );
  // The account service lets one address sign up ten accounts per window: clients share them.
  const accounts = await Promise.all(
    Array.from({ length: 10 }, () => customer(stack.accounts, stack.authority)),
  );
  const buyers = Array.from({ length: clients }, (_, i) => accounts[i % accounts.length]);

  /** Each client runs `step` back to back until it answers false; latencies in ms. */
  async function run(step: (client: number, i: number) => Promise<boolean>) {
    const latencies: number[] = [];
    const failures = new Map<string, number>();
    const started = performance.now();
    await Promise.all(
      buyers.map(async (_, client) => {
        for (let i = 0; ; i++) {
          const t0 = performance.now();
          try {
            if (!(await step(client, i))) return;
            latencies.push(performance.now() - t0);
          } catch (error) {
            const code = String(ConnectError.from(error).code);
            failures.set(code, (failures.get(code) ?? 0) + 1);
          }
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const at = (p: number) => latencies[Math.floor((p / 100) * (latencies.length - 1))] ?? NaN;
    return { count: latencies.length, elapsed, p50: at(50), p99: at(99), failures };
  }

  const placed: string[][] = buyers.map(() => []);
  const until = performance.now() + seconds * 1000;
  const creates = await run(async (client, i) => {
    if (performance.now() >= until) return false;
    const buyer = buyers[client];
    const { order } = await stack.orders.createOrder(
      {
        items: [
          { productId: products[(client + i) % products.length] ?? "", quantity: 1 + (i % 3) },
        ],
      },
      buyer?.auth,
    );
    placed[client]?.push(order?.id ?? "");
    return true;
  });
  const cancels = await run(async (client, i) => {
    const id = placed[client]?.[i];
    if (id === undefined) return false;
    await stack.orders.cancelOrder({ id, reason: "bench" }, buyers[client]?.auth);
    return true;
  });

  const line = (what: string, r: typeof creates) =>
    `${what}: ${r.count} in ${r.elapsed.toFixed(1)} s = ${Math.round(r.count / r.elapsed)} ${what}/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, failed ${JSON.stringify(Object.fromEntries(r.failures))}`;
  process.stdout.write(`${line("orders", creates)}\n${line("cancellations", cancels)}\n`);

  const [unreturned] = await stack.db
    .order`select count(*)::int as n from orders where return_pending`;
  const stock = await stack.db.catalog`
    select stock from product_stock where product_id = any(${products}::uuid[])`;
  const [notReturned] = await stack.db.catalog`
    select count(*)::int as n from reservations where state <> 'returned'`;
  exact =
    unreturned?.n === 0 &&
    notReturned?.n === 0 &&
    stock.length === products.length &&
    stock.every((row) => row.stock === initialStock);
  process.stdout.write(
    `reconciliation: ${exact ? "EXACT" : "MISMATCH"} (every product back at ${initialStock}, every reservation RETURNED)\n`,
  );
} finally {
  await stack.close();
}
process.exit(exact ? 0 : 1);
