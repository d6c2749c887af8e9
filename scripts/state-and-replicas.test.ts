// docs/state-and-replicas.md tells the truth: every piece of in-process state a simple scan of
// the sources finds (a class's Map/Set/WeakMap field, a module-level or per-closure table, an
// Lru, a background Loop, a counter a closure keeps) is named in its table, and every file the
// table names exists and still holds what the row says.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const doc = readFileSync(join(root, "docs/state-and-replicas.md"), "utf8");

/**
 * Lines that hold state beyond one call: what a process keeps that another replica does not
 * see. Simple on purpose: a table built and dropped within one call is not state, and a
 * closure's own table or counter (indented like any local) is found only when it is swapped
 * per window (`let x = new Map`); the doc names such closures by hand.
 */
const stateful = [
  /\bnew (Lru|Loop)\b/, // bounded caches, background workers
  /^\s*(readonly )?#\w+ = new (Map|Set|WeakMap)\b/, // a class's own table
  /^(export )?(const|let) \w+ = new (Map|Set|WeakMap)\b(?!(<[^>]*>)?\(\[)/, // a module's table (a literal list is a constant)
  /^\s*let \w+ = new Map\b/, // a closure's table swapped per window (batches)
  /^(export )?let \w+ = 0;/, // a module's counter
  /^\s*#\w+ = 0;/, // a class's counter
];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    const isSource = name.endsWith(".ts") && !/\.(test|browser\.test)\.ts$/.test(name);
    return isSource && !/testing(-browser)?\.ts$/.test(name) ? [path] : [];
  });
}

function found(): Map<string, string[]> {
  const byFile = new Map<string, string[]>();
  for (const dir of ["platform", "services", "gateway"]) {
    for (const file of sources(join(root, dir))) {
      const lines = readFileSync(file, "utf8")
        .split("\n")
        .filter((line) => stateful.some((pattern) => pattern.test(line)));
      if (lines.length > 0)
        byFile.set(
          relative(root, file),
          lines.map((l) => l.trim()),
        );
    }
  }
  return byFile;
}

describe("docs/state-and-replicas.md", () => {
  it("names every file that keeps in-process state", () => {
    const named = (file: string) => doc.includes(`\`${file}\``) || doc.includes(`\`${file}#`);
    const missing = [...found()].filter(([file]) => !named(file));
    expect(
      missing,
      "add a row (or a mention) for each of these to docs/state-and-replicas.md",
    ).toEqual([]);
  });

  it("names only files that exist, and each row's named code is still there", () => {
    const rows = doc
      .split("\n")
      .filter((line) => line.startsWith("| ") && !line.startsWith("| state"));
    expect(rows.length).toBeGreaterThan(10);
    for (const row of rows) {
      for (const [, file, symbol] of row.matchAll(/`([\w/.-]+\.ts)(?:#(\w+))?`/g)) {
        expect(existsSync(join(root, file as string)), `${file} in: ${row}`).toBe(true);
        if (symbol) {
          expect(
            readFileSync(join(root, file as string), "utf8"),
            `${symbol} in ${file}`,
          ).toContain(symbol);
        }
      }
    }
  });
});
