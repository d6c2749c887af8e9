// Top entries of V8 CPU profiles (`node --cpu-prof`), by package, by function (self time) and,
// with --inclusive, by function with its callees (each function counted once per sample), for
// reading `npm run bench:orders -- --profile` or `bench:gateway -- --profile` output. When
// bench/profiles/windows.json exists (bench:orders writes the CreateOrder rounds' start and end
// there, bench:gateway its scenarios' measured runs, on the clock V8's profiles use), only
// samples inside those windows count: start-up, setup, warm-ups and the database-only rounds
// stay out.
//
//   npx tsx bench/profile-top.ts bench/profiles/*/*.cpuprofile [--top 15] [--inclusive] [--all]
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const topAt = args.indexOf("--top");
const top = topAt >= 0 ? Number(args[topAt + 1]) : 15;
const inclusive = args.includes("--inclusive");
// --all: every sample, whatever windows.json says.
const all = args.includes("--all");
const files = args.filter((a, i) => !a.startsWith("--") && i !== topAt + 1);

/** The package (or our own top-level folder, or a V8 category) a frame belongs to. */
function owner(url: string, name: string): string {
  if (!url) return name.startsWith("(") ? name : "(native)";
  const pkg = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (pkg) return pkg[1] as string;
  if (url.startsWith("node:")) return url.split("/")[0] as string;
  const own = url.match(/\/(services\/[^/]+|platform|gen|gateway)\//);
  return own ? (own[1] as string) : url;
}

/** The measured windows ([start, end] in µs) written beside the profiles' folders, if any. */
async function windowsFor(file: string): Promise<[number, number][] | undefined> {
  if (all) return undefined;
  for (const dir of [dirname(file), dirname(dirname(file))]) {
    const path = join(dir, "windows.json");
    if (existsSync(path)) return JSON.parse(await readFile(path, "utf8")) as [number, number][];
  }
  return undefined;
}

for (const file of files) {
  const profile = JSON.parse(await readFile(file, "utf8")) as Profile;
  const windows = await windowsFor(file);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const keyOf = (node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    return `${functionName || "(anonymous)"} ${url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/(services|platform|gen|gateway|bench)\//, "$1/")}:${lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const byOwner = new Map<string, number>();
  const withCallees = new Map<string, number>();
  let total = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (windows && !windows.some(([from, to]) => at >= from && at <= to)) return;
    const node = byId.get(id);
    if (!node) return;
    const { functionName, url } = node.callFrame;
    if (functionName === "(idle)") return;
    total += dt;
    const key = keyOf(node);
    self.set(key, (self.get(key) ?? 0) + dt);
    const o = owner(url, functionName);
    byOwner.set(o, (byOwner.get(o) ?? 0) + dt);
    if (inclusive) {
      const seen = new Set<string>();
      for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
        const frame = byId.get(n);
        if (!frame || frame.callFrame.functionName === "(root)") continue;
        const k = keyOf(frame);
        if (seen.has(k)) continue;
        seen.add(k);
        withCallees.set(k, (withCallees.get(k) ?? 0) + dt);
      }
    }
  });
  const pct = (x: number) => `${((100 * x) / total).toFixed(1).padStart(5)}%`;
  const list = (m: Map<string, number>, n = top) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `  ${pct(v)}  ${k}`)
      .join("\n");
  const scope = windows ? `in the ${windows.length} measured windows` : "whole run";
  process.stdout.write(
    `${basename(file)}: ${(total / 1e6).toFixed(1)} s busy (${scope})\n by package:\n${list(byOwner)}\n by function (self):\n${list(self)}\n${inclusive ? ` by function with callees:\n${list(withCallees, top * 3)}\n` : ""}\n`,
  );
}
