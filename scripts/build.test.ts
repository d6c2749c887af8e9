// The bundles `npm start` runs: each module still finds the files beside its source, only the
// entry module counts as the entry point, stack traces name the TypeScript sources, and a build
// of unchanged sources rewrites nothing.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { distDir, processNames } from "../platform/processes.js";
import { runToExit } from "../platform/testing.js";
import { type BuildResult, build, entries } from "./build.js";

const root = fileURLToPath(new URL("..", import.meta.url));

describe("npm run build", () => {
  // Inside the repository, as dist/ is, so that the bundles resolve node_modules.
  let outdir: string;
  let first: BuildResult;
  beforeAll(async () => {
    await mkdir(join(root, distDir), { recursive: true });
    outdir = await mkdtemp(join(root, distDir, "test-"));
    first = await build(outdir);
  }, 60_000);
  afterAll(() => rm(outdir, { recursive: true, force: true }));

  it("bundles every process and the supervisor, each with a source map", () => {
    expect(Object.keys(entries)).toEqual(expect.arrayContaining(processNames));
    for (const name of Object.keys(entries)) {
      expect(existsSync(join(outdir, `${name}.js`)), name).toBe(true);
      expect(existsSync(join(outdir, `${name}.js.map`)), name).toBe(true);
    }
  });

  it("gives each module its own source's URL, and the entry alone the bundle's", async () => {
    for (const [name, entry] of Object.entries(entries)) {
      const code = await readFile(join(outdir, `${name}.js`), "utf8");
      const uses = [...code.matchAll(/.{0,80}\bimport\.meta\.url\b/g)].map((m) => m[0]);
      const own = uses.map((use) => use.match(/new URL\("([^"]+\.ts)", import\.meta\.url$/)?.[1]);
      // Each rewritten URL is a real source file's, relative to the bundle.
      for (const file of own.filter((f) => f !== undefined)) {
        expect(existsSync(resolve(outdir, file)), `${name}: ${file}`).toBe(true);
      }
      // What is left as is: the entry module's isEntryPoint check, once (scripts/start.ts has none).
      const kept = uses.filter((_, i) => own[i] === undefined);
      const entrySource = await readFile(join(root, entry), "utf8");
      expect(kept.length, `${name}: ${kept.join(" | ")}`).toBe(
        entrySource.includes("isEntryPoint(import.meta.url)") ? 1 : 0,
      );
      for (const use of kept) expect(use).toMatch(/isEntryPoint\(import\.meta\.url$/);
    }
  });

  it("rewrites nothing when the sources did not change", async () => {
    expect(first.written.length).toBeGreaterThan(0);
    expect((await build(outdir)).written).toEqual([]);
  }, 60_000);

  it("runs a process from its bundle, with stack traces naming the TypeScript sources", async () => {
    const { code, output } = await runToExit(
      process.execPath,
      ["--enable-source-maps", join(outdir, "account.js")],
      {
        cwd: root,
        // Nothing listens on port 1: the start fails in the migration, with its stack.
        env: {
          PATH: process.env.PATH ?? "",
          PORT: "0",
          DATABASE_URL: "postgres://x@127.0.0.1:1/x",
        },
      },
    );
    expect(code).toBe(1);
    expect(output).toContain("account: failed to start: Error: connect ECONNREFUSED");
    expect(output).toMatch(/platform\/data\/database\.ts:\d+:\d+/);
    expect(output).not.toMatch(/account\.js:\d+/);
  }, 30_000);
});
