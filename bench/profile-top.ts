// Top self-time entries of V8 CPU profiles (`node --cpu-prof`), by function and by package,
// for reading `npm run bench:orders -- --profile` output.
//
//   npx tsx bench/profile-top.ts bench/profiles/*.cpuprofile [--top 15]
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const topAt = args.indexOf("--top");
const top = topAt >= 0 ? Number(args[topAt + 1]) : 15;
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

for (const file of files) {
  const profile = JSON.parse(await readFile(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const byOwner = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") return;
    total += dt;
    const key = `${functionName || "(anonymous)"} ${url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/(services|platform|gen|gateway)\//, "$1/")}:${lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    const o = owner(url, functionName);
    byOwner.set(o, (byOwner.get(o) ?? 0) + dt);
  });
  const pct = (x: number) => `${((100 * x) / total).toFixed(1).padStart(5)}%`;
  const list = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `  ${pct(v)}  ${k}`)
      .join("\n");
  process.stdout.write(
    `${basename(file)}: ${(total / 1e6).toFixed(1)} s busy\n by package:\n${list(byOwner)}\n by function (self):\n${list(self)}\n\n`,
  );
}
