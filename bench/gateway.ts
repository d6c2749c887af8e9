// Gateway benchmark (`npm run bench:gateway`): in one run and on the same data, each scenario of
// bench/gateway-scenarios.ts against the processes of bench/gateway-stack.ts; prints req/s,
// p50/p99, CPU per request by process, and each figure's ratio to its same-run reference.
// Load comes from `wrk` when it is installed (a C load generator costs the measured processes
// the least CPU), else from a small keep-alive loop in this process (bench/load.ts).
//
// Settings: `npm run bench:gateway -- --help` (bench/options.ts); BENCH_ONLY=<regexp> runs only
// the matching scenarios (the bare server always), for profiling one path.
import { mkdir, writeFile } from "node:fs/promises";
import { pairedRounds } from "./gateway-paired.js";
import { names, scenarios } from "./gateway-scenarios.js";
import { cleanUp, cpuSeconds, type Stack, startStack } from "./gateway-stack.js";
import { type HiveSource, hiveScenarios, hiveVersion } from "./hive.js";
import { loadGenerator, type Result, runLoad, type Target, usesWrk } from "./load.js";
import { benchOptions } from "./options.js";

const {
  seconds,
  connections,
  profile,
  "paired-rounds": rounds,
  "paired-seconds": pairedSeconds,
} = benchOptions("bench:gateway", {
  seconds: { default: 8, help: "seconds per scenario" },
  connections: { default: 32, help: "requests in flight (64 for the order scenarios)" },
  profile: { default: false, help: "CPU profiles of the gateway and services in bench/profiles" },
  "paired-rounds": {
    default: 5,
    help: "rounds of each target ratio's scenarios, alternating (bench/gateway-paired.ts; 0: none)",
  },
  "paired-seconds": { default: 4, help: "seconds per scenario in a paired round" },
});

async function main() {
  const stack = await startStack(profile);
  const targets = await scenarios(stack);
  process.stdout.write(
    `load: ${loadGenerator}, ${connections} connections (64 placing orders), ${seconds} s per scenario after a 2 s warm-up; [loop]: this process's keep-alive loop, its own CPU per request beside it\n\n`,
  );
  const results = new Map<string, Result>();
  // CPU µs per request by scenario, then by process: steadier than req/s on a shared machine.
  const cpuOf = new Map<string, Record<string, number>>();
  const only = process.env.BENCH_ONLY;
  // The measured runs, on the clock V8's profiles use: bench/profile-top.ts counts only their
  // samples (start-up, seeding and warm-ups stay out).
  const windows: [number, number][] = [];
  const selected = targets.filter(
    (target) => !only || target === targets[0] || new RegExp(only, "i").test(target.name),
  );
  // Issue 21: orders with 64 connections, as bench:orders' clients.
  const load = (target: Target, duration: number) =>
    runLoad(target, {
      seconds: duration,
      connections: target.freshKey ? 64 : connections,
      workDir: stack.work,
    });
  for (const target of selected) {
    const run = (duration: number) => load(target, duration);
    await run(2); // warm-up: JIT, connection pools, caches
    const services = Object.entries(target.cpu).filter(([name]) => serviceNames.has(name));
    const before = await Promise.all(Object.values(target.cpu).map(cpuSeconds));
    const callsBefore = await Promise.all(services.map(([, base]) => rpcsHandled(base)));
    const ownBefore = process.cpuUsage();
    const windowStart = Number(process.hrtime.bigint() / 1000n);
    const result = await run(seconds);
    windows.push([windowStart, Number(process.hrtime.bigint() / 1000n)]);
    const own = process.cpuUsage(ownBefore);
    const after = await Promise.all(Object.values(target.cpu).map(cpuSeconds));
    const callsAfter = await Promise.all(services.map(([, base]) => rpcsHandled(base)));
    results.set(target.name, result);
    const micros = Object.fromEntries(
      Object.keys(target.cpu).map((name, i) => [
        name,
        (((after[i] ?? 0) - (before[i] ?? 0)) * 1e6) / result.requests,
      ]),
    );
    cpuOf.set(target.name, micros);
    const wrk = usesWrk(target);
    const cpu = [
      ...Object.entries(micros).map(([name, us]) => `${name} ${us.toFixed(0)}`),
      ...(wrk ? [] : [`loop ${((own.user + own.system) / result.requests).toFixed(0)}`]),
    ].join(", ");
    // RPCs each service answered per request: 1 per call made, less when calls were shared.
    const calls = services
      .map(
        ([name], i) =>
          `${name} ${(((callsAfter[i] ?? 0) - (callsBefore[i] ?? 0)) / result.requests).toFixed(2)}`,
      )
      .join(", ");
    process.stdout.write(
      `${result.name.padEnd(44)} ${result.rps.toFixed(0).padStart(8)} req/s   p50 ${result.p50.toFixed(2).padStart(7)} ms   p99 ${result.p99.toFixed(2).padStart(7)} ms   ${wrk ? "[wrk] " : "[loop]"}${cpu ? `   CPU µs/req: ${cpu}` : ""}${calls ? `   RPCs/req: ${calls}` : ""}${result.errors ? `   ${result.errors} errors` : ""}\n`,
    );
  }
  for (const [source, reason] of stack.hiveSkipped) {
    process.stdout.write(`${hiveScenarios[source].name.padEnd(44)} not measured: ${reason}\n`);
  }
  process.stdout.write(`\n${ratios(stack, results, cpuOf).join("\n")}\n`);
  const paired = await pairedRounds(selected, load, rounds, pairedSeconds);
  if (paired.length > 0) process.stdout.write(`\n${paired.join("\n")}\n`);
  if (profile) {
    await mkdir(new URL("profiles", import.meta.url), { recursive: true });
    await writeFile(new URL("profiles/windows.json", import.meta.url), JSON.stringify(windows));
  }
}

const serviceNames = new Set(["account", "catalog", "order"]);

/** RPCs a service has answered so far (its rpc_server_handled_total, probes left out). */
async function rpcsHandled(base: string | number): Promise<number> {
  if (typeof base === "number") return Number.NaN;
  const text = await fetch(`${base}/metrics`).then((res) => res.text());
  let total = 0;
  for (const [, method, count] of text.matchAll(
    /^rpc_server_handled_total\{[^}]*grpc_service="([^"]+)"[^}]*\} (\S+)$/gm,
  )) {
    if (!/^grpc\./.test(method ?? "")) total += Number(count);
  }
  return total;
}

/** One line per figure and its reference: `<figure> / <reference> = N×   (target)`. */
function ratios(
  stack: Stack,
  results: Map<string, Result>,
  cpuOf: Map<string, Record<string, number>>,
): string[] {
  const ratio = (a: string, b: string) => {
    const x = results.get(a)?.rps ?? Number.NaN;
    const y = results.get(b)?.rps ?? Number.NaN;
    return (x / y).toFixed(2);
  };
  /** What one process spent per request in scenario a over what another spent in b. */
  const cpuRatio = (a: string, aProcess: string, b: string, bProcess: string) =>
    ((cpuOf.get(a)?.[aProcess] ?? Number.NaN) / (cpuOf.get(b)?.[bProcess] ?? Number.NaN)).toFixed(
      2,
    );
  /**
   * The gateway's CPU per request as the hop's, Yoga alone's and the rest (our plugins, limits,
   * validation, execution); and the hop's rate with Yoga alone's CPU added to each request on
   * the two cores, over the direct rate: about what a gateway of Yoga and the hop would reach.
   */
  const split = (ours: string, hop: string, direct: string) => {
    const gateway = cpuOf.get(ours)?.gateway ?? Number.NaN;
    const hopCpu = cpuOf.get(hop)?.hop ?? Number.NaN;
    const yoga = cpuOf.get(names.yogaAlone)?.yoga ?? Number.NaN;
    const hopRps = results.get(hop)?.rps ?? Number.NaN;
    const estimate = 1 / (1 / hopRps + yoga / 2 / 1e6) / (results.get(direct)?.rps ?? Number.NaN);
    return `   ${ours}: gateway CPU per request ${gateway.toFixed(0)} µs = the hop's ${hopCpu.toFixed(0)} + Yoga alone's ${yoga.toFixed(0)} + ${(gateway - hopCpu - yoga).toFixed(0)} of our own; the hop with Yoga alone's CPU added ≈ ${estimate.toFixed(2)}× direct (estimate, both cores busy)`;
  };
  const versusHive = (source: HiveSource, paged: boolean) => {
    const scenario = hiveScenarios[source];
    const hive = paged ? scenario.pagedName : scenario.name;
    const ours = paged ? names.flatDistinct : names.flat;
    const label = `${paged ? "gateway, distinct pages" : "gateway flat"} / ${scenario.label}${paged ? ", distinct pages" : ""}`;
    const skipped = stack.hiveSkipped.get(source);
    if (skipped) return `${label} = not measured (${skipped})`;
    // The steadier figure on a shared machine: what each gateway process spent per request.
    const cpu = (
      (cpuOf.get(hive)?.hive ?? Number.NaN) / (cpuOf.get(ours)?.gateway ?? Number.NaN)
    ).toFixed(2);
    return `${label} = ${ratio(ours, hive)}×   (target ≥ 10×; Hive Gateway ${hiveVersion}; its CPU per request = ${cpu}× our gateway's)`;
  };
  return [
    `GetProduct / bare = ${ratio(names.getProduct, names.bare)}×   (target ≥ 0.10×)`,
    `gateway / direct, the same page = ${ratio(names.flat, names.direct)}×   (target ≥ 1.0×)`,
    `gateway / direct, distinct pages = ${ratio(names.flatDistinct, names.directDistinct)}×   (target ≥ 0.75×)`,
    `gateway over connect-h2 / direct, distinct pages = ${ratio(names.flatDistinctH2, names.directDistinct)}×   (target ≥ 0.75×; BACKEND_PROTOCOL=connect-h2)`,
    `the hop alone / direct, distinct pages = ${ratio(names.hopDistinct, names.directDistinct)}×   (the most any gateway can reach; bench/hop.ts)`,
    `gateway / the hop alone, distinct pages = ${ratio(names.flatDistinct, names.hopDistinct)}×   (what GraphQL costs beyond the hop; CPU per request ${cpuRatio(names.flatDistinct, "gateway", names.hopDistinct, "hop")}× the hop's)`,
    split(names.flatDistinct, names.hopDistinct, names.directDistinct),
    `gateway over gRPC / over Connect = ${ratio(names.grpc, names.flat)}×`,
    versusHive("connect-json", false),
    versusHive("grpc", false),
    versusHive("connect-json", true),
    versusHive("grpc", true),
    `nested / the same 3 RPCs direct = ${ratio(names.nested, names.threeRpcs)}×   (target ≥ 0.8×; identical queries in flight share the gateway's calls: RPCs/req above)`,
    `nested / the same 3 RPCs direct, distinct pages = ${ratio(names.nestedDistinct, names.threeRpcsDistinct)}×   (target ≥ 0.8×; nothing shared: the gateway's own cost)`,
    `the hop alone / the same 3 RPCs direct, distinct pages = ${ratio(names.hopNestedDistinct, names.threeRpcsDistinct)}×   (the most any gateway can reach; bench/hop.ts)`,
    `nested / the hop alone, distinct pages = ${ratio(names.nestedDistinct, names.hopNestedDistinct)}×   (CPU per request ${cpuRatio(names.nestedDistinct, "gateway", names.hopNestedDistinct, "hop")}× the hop's)`,
    split(names.nestedDistinct, names.hopNestedDistinct, names.threeRpcsDistinct),
    `nested over connect-h2 / the same 3 RPCs direct, distinct pages = ${ratio(names.nestedDistinctH2, names.threeRpcsDistinct)}×   (target ≥ 0.8×; BACKEND_PROTOCOL=connect-h2)`,
    `createOrder through the gateway / direct CreateOrder = ${ratio(names.createOrder, names.directCreateOrder)}×   (target ≥ 0.8×)`,
    `createOrder over connect-h2 / direct CreateOrder = ${ratio(names.createOrderH2, names.directCreateOrder)}×   (target ≥ 0.8×; BACKEND_PROTOCOL=connect-h2)`,
    `the hop alone / direct CreateOrder = ${ratio(names.hopCreateOrder, names.directCreateOrder)}×   (the most any gateway can reach; bench/hop.ts)`,
    `createOrder through the gateway / the hop alone = ${ratio(names.createOrder, names.hopCreateOrder)}×   (CPU per request ${cpuRatio(names.createOrder, "gateway", names.hopCreateOrder, "hop")}× the hop's)`,
    split(names.createOrder, names.hopCreateOrder, names.directCreateOrder),
  ];
}

main()
  .then(cleanUp)
  .catch(async (error: unknown) => {
    process.stderr.write(`benchmark failed: ${(error as Error)?.stack ?? String(error)}\n`);
    await cleanUp();
    process.exitCode = 1;
  });
