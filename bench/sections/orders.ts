// `npm run bench`'s orders section: bench:orders (CreateOrder with 64 clients, alternating with
// the database-only order on the same server, then pgbench's TPC-B) read back into rows.
import { num, row, script, times } from "../report.js";

export async function orders(seconds: number): Promise<void> {
  const out = await script("bench/orders.ts", ["--seconds", String(seconds)]);
  const rate = num(out, /orders placed: .*= (\d+) orders\/s/);
  const placed = num(out, /orders placed:\s+(\d+)/);
  const reference = num(out, /database-only order: .*= (\d+) orders\/s/);
  const p50 = num(out, /latency: +p50 ([\d.]+) ms/);
  const p99 = num(out, /latency: +p50 [\d.]+ ms, p99 ([\d.]+) ms/);
  const loadCpu = num(out, /load CPU: +([\d.]+) s/);
  const tps = num(out, /pgbench TPC-B: +(\d+) TPS/);
  const pgbench = out.match(/pgbench TPC-B: +(.*)/)?.[1] ?? "not run";
  const failed = out.match(/failed calls:\s+(.*)/)?.[1] ?? "?";
  row(
    `direct CreateOrder, 64 clients, 20 products (${seconds} s)`,
    `${rate.toFixed(0)} orders/s`,
    `the database-only order, alternating: ${reference.toFixed(0)} orders/s`,
    times(rate, reference),
    "≥ 0.5 ×",
  );
  row(
    "direct CreateOrder against pgbench TPC-B (scale 10, 64 clients)",
    `${rate.toFixed(0)} orders/s`,
    Number.isFinite(tps) ? `${tps.toFixed(0)} TPS` : pgbench,
    times(rate, tps),
    "",
  );
  row(
    "order latency p50 / p99",
    `${p50.toFixed(0)} / ${p99.toFixed(0)} ms`,
    "p50",
    times(p99, p50),
    "p99 ≤ 5 × p50",
  );
  row(
    "service CPU per order (load phase)",
    `${((loadCpu * 1000) / placed).toFixed(1)} ms`,
    `${loadCpu.toFixed(1)} s for ${placed} orders`,
    "",
    "",
  );
  row("failed order calls", failed, "", "", "none");
  row("reconciliation", /EXACT/.test(out) ? "EXACT" : "MISMATCH", "", "", "EXACT");
}
