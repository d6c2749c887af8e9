// A/B of gateway builds (`npx tsx bench/gateway-ab.ts`): one set of services and seeded data
// (bench/gateway-stack.ts), a gateway process per build, and bench:gateway's scenarios sent to
// each build in turn, round after round, so that the load other work puts on a shared machine
// falls on every build alike. Prints each round's CPU µs per request by process, then per build
// the medians and, against the first build, the median of the per-round ratios — the figure that
// holds up when absolute rates swing 2× from one minute to the next.
//
//   git archive <commit> | tar -x -C /tmp/before && cp -a node_modules /tmp/before/
//   AB_BUILDS='/tmp/before,.,.|BACKEND_PROTOCOL=connect-h2' npx tsx bench/gateway-ab.ts
//
// AB_BUILDS: comma-separated builds, each a directory (its gateway/main.ts runs from there)
// with `|NAME=VALUE` variables for it; AB_ONLY: a regexp of scenario names (default: the
// gateway's distinct pages); AB_ROUNDS (6) and AB_SECONDS (3); AB_REFERENCE: a regexp naming
// a scenario without the gateway (e.g. `^direct Connect CreateOrder$`), run in each round before
// the builds, each build's req/s then also printed as a ratio to it.
import { spawn } from "node:child_process";
import { loadavg } from "node:os";
import { resolve } from "node:path";
import { freePort } from "../platform/testing.js";
import { scenarios } from "./gateway-scenarios.js";
import { cleanUp, cpuSeconds, startStack, url } from "./gateway-stack.js";
import { runLoad, type Target, waitReady } from "./load.js";

const rounds = Number(process.env.AB_ROUNDS ?? 6);
const seconds = Number(process.env.AB_SECONDS ?? 3);
const only = new RegExp(process.env.AB_ONLY ?? "^gateway products, distinct pages$", "i");
const builds = (process.env.AB_BUILDS ?? ".").split(",").filter(Boolean);
const reference = process.env.AB_REFERENCE ? new RegExp(process.env.AB_REFERENCE, "i") : undefined;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main() {
  const stack = await startStack(false);
  const gateways: { label: string; url: string }[] = [];
  for (const build of builds) {
    const [dir = ".", ...vars] = build.split("|");
    const port = await freePort();
    const child = spawn(
      process.execPath,
      ["--max-semi-space-size=64", "--import", "tsx", "gateway/main.ts"],
      {
        cwd: resolve(dir),
        env: {
          ...process.env,
          NODE_ENV: "test",
          LOG_LEVEL: "warn",
          HOST: "127.0.0.1",
          PORT: String(port),
          ACCOUNT_URL: stack.account,
          CATALOG_URL: stack.catalog,
          ORDER_URL: stack.order,
          ...Object.fromEntries(vars.map((v) => v.split("=") as [string, string])),
        },
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
    process.on("exit", () => child.kill());
    await waitReady(`${url(port)}/readyz`);
    gateways.push({ label: build, url: url(port) });
  }
  // The scenarios sent to bench:gateway's own gateway, each re-aimed at every build.
  const all = await scenarios(stack);
  const targets = all.filter((t) => only.test(t.name) && t.url.startsWith(stack.gateway));
  const baseline = reference ? all.find((t) => reference.test(t.name)) : undefined;
  for (const target of targets) {
    const cpu = new Map<string, number[]>(gateways.map((g) => [g.label, []]));
    const toReference = new Map<string, number[]>(gateways.map((g) => [g.label, []]));
    for (let round = 0; round < rounds; round++) {
      const referenceRps = baseline ? (await measure(baseline, stack.work)).rps : NaN;
      // Every other round in reverse order, so that no build always follows the same one.
      for (const gw of round % 2 === 0 ? gateways : [...gateways].reverse()) {
        const aimed = {
          ...target,
          url: target.url.replace(stack.gateway, gw.url),
          cpu: { ...target.cpu, gateway: gw.url },
        };
        const { rps, micros } = await measure(aimed, stack.work, gw.label);
        cpu.get(gw.label)?.push(micros.find(([name]) => name === "gateway")?.[1] ?? NaN);
        toReference.get(gw.label)?.push(rps / referenceRps);
      }
    }
    const first = cpu.get(gateways[0]?.label ?? "") ?? [];
    for (const [label, values] of cpu) {
      const ratios = values.map((v, i) => v / (first[i] ?? NaN));
      const versus = toReference.get(label) ?? [];
      process.stdout.write(
        `MEDIAN ${target.name}: ${label}: gateway ${median(values).toFixed(0)} µs/req; per round / ${gateways[0]?.label}: ${ratios.map((r) => r.toFixed(2)).join(" ")} (median ${median(ratios).toFixed(2)})${baseline ? `; req/s / ${baseline.name}: ${versus.map((r) => r.toFixed(2)).join(" ")} (median ${median(versus).toFixed(2)})` : ""}\n`,
      );
    }
  }
}

/** One warmed-up measurement of `target`: its req/s and each process's CPU µs per request. */
async function measure(target: Target, workDir: string, label = "") {
  const options = { connections: target.freshKey ? 64 : 32, workDir };
  await runLoad(target, { ...options, seconds: 1 });
  const processes = Object.entries(target.cpu);
  const before = await Promise.all(processes.map(([, base]) => cpuSeconds(base)));
  const result = await runLoad(target, { ...options, seconds });
  const after = await Promise.all(processes.map(([, base]) => cpuSeconds(base)));
  const micros = processes.map(
    ([name], i) => [name, (((after[i] ?? 0) - (before[i] ?? 0)) * 1e6) / result.requests] as const,
  );
  process.stdout.write(
    `${target.name.padEnd(40)} ${label.padEnd(48)} ${result.rps.toFixed(0).padStart(6)} req/s   CPU µs/req: ${micros.map(([n, v]) => `${n} ${v.toFixed(0)}`).join(", ")}${result.errors ? `   ${result.errors} errors` : ""}   (load ${loadavg()[0]?.toFixed(1)})\n`,
  );
  return { rps: result.rps, micros };
}

main()
  .then(cleanUp)
  .catch(async (error: unknown) => {
    process.stderr.write(`gateway A/B failed: ${(error as Error)?.stack ?? String(error)}\n`);
    await cleanUp();
    process.exitCode = 1;
  })
  .finally(() => process.exit());
