// What `npm run bench`'s sections share: running a bench script as a child and reading its
// output back, the table's rows (each figure beside its same-run reference and their ratio),
// and bench/results/latest.md.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("..", import.meta.url));
const rows: string[][] = [];

/** A row of the table: what is measured, its value, the reference, their ratio, the target. */
export function row(
  figure: string,
  value: string,
  reference: string,
  ratio: string,
  target: string,
): void {
  rows.push([figure, value, reference, ratio, target].map((cell) => cell.replaceAll("|", "\\|")));
}

/** `a / b` as `0.42 ×`, or "—" when either is missing. */
export const times = (a: number, b: number) =>
  Number.isFinite(a / b) ? `${(a / b).toFixed(2)} ×` : "—";

/** The first number `pattern` captures in `text`, NaN when absent. */
export const num = (text: string, pattern: RegExp) =>
  Number(text.match(pattern)?.[1] ?? Number.NaN);

/** Runs a bench script to its end, echoing and returning its output. */
export function script(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(root, "node_modules/.bin/tsx"), [join(root, file), ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.on("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${file} exited with ${code}\n${out}`)),
    );
  });
}

/** The table so far, in Markdown. */
export function table(): string {
  return [
    "| figure | value | same-run reference | ratio | target (issue 21) |",
    "|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

/** Writes bench/results/latest.md: the table, with the machine and its load. */
export function writeLatest(began: Date): void {
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? "?"}), load average at the end ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`;
  const md = `# npm run bench — ${began.toISOString()}\n\n${machine}. Absolute rates depend on the machine and its load; the ratios, each to a reference measured in the same run, hold from one machine to another.\n\n${table()}\n`;
  mkdirSync(join(root, "bench/results"), { recursive: true });
  writeFileSync(join(root, "bench/results/latest.md"), md);
}
