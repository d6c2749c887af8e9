// Builds the storefront with Vite when its sources changed, and only then. Each build lands in
// dist/<hash of the sources>/, written to a temporary folder and renamed into place, so a
// process serving one build, or another process building the same sources, never sees a
// half-written folder; `npm start` after the first time finds the build and skips it.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../platform/config.js";

const webRoot = fileURLToPath(new URL(".", import.meta.url));
const repoRoot = fileURLToPath(new URL("..", import.meta.url));
export const distRoot = join(webRoot, "dist");

// Everything that goes into the bundle: the page, its config, the generated code, the locked
// dependency versions.
const sources = ["web/src", "web/index.html", "web/vite.config.ts", "gen", "package-lock.json"];

/** A short hash of every source file's path and contents. */
export async function sourceHash(): Promise<string> {
  const files: string[] = [];
  for (const source of sources) {
    const path = join(repoRoot, source);
    if ((await stat(path)).isDirectory()) {
      for (const entry of await readdir(path, { recursive: true, withFileTypes: true })) {
        if (entry.isFile()) files.push(join(entry.parentPath, entry.name));
      }
    } else {
      files.push(path);
    }
  }
  const hash = createHash("sha256");
  for (const file of files.sort()) {
    hash
      .update(relative(repoRoot, file))
      .update("\0")
      .update(await readFile(file))
      .update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export interface Built {
  dir: string;
  /** False when an earlier build of the same sources was reused. */
  fresh: boolean;
}

/** The folder holding the build of the current sources, building it first if needed. */
export async function ensureBuilt(options: { build?: boolean } = {}): Promise<Built> {
  const dir = join(distRoot, await sourceHash());
  if (await exists(join(dir, "index.html"))) return { dir, fresh: false };
  if (options.build === false) {
    throw new ConfigError(
      `the storefront is not built for these sources (no ${dir}): run npm run web:build first`,
    );
  }
  const temporary = `${dir}.tmp-${process.pid}`;
  await viteBuild(temporary);
  try {
    await rename(temporary, dir);
  } catch (error) {
    // Another process built the same sources meanwhile: theirs is as good as ours.
    await rm(temporary, { recursive: true, force: true });
    if (!(await exists(join(dir, "index.html")))) throw error;
    return { dir, fresh: false };
  }
  await pruneOthers(dir);
  return { dir, fresh: true };
}

/**
 * `vite build` in a child process: Vite takes its production switch from NODE_ENV, which a
 * test runner sets to "test" (that would bundle React's development build), and the serving
 * process need not keep Vite and its bundler in memory. Vite is a development dependency.
 */
async function viteBuild(outDir: string): Promise<void> {
  const vite = fileURLToPath(new URL("bin/vite.js", import.meta.resolve("vite/package.json")));
  const args = [vite, "build", "--config", join(webRoot, "vite.config.ts"), "--outDir", outDir];
  const child = spawn(process.execPath, [...args, "--emptyOutDir", "--logLevel", "warn"], {
    env: { ...process.env, NODE_ENV: "production" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new Error(`vite build failed (exit ${code}); its output is above`);
}

/** Removes builds of older sources (not folders still being written by another process). */
async function pruneOthers(keep: string): Promise<void> {
  for (const entry of await readdir(distRoot, { withFileTypes: true })) {
    const path = join(distRoot, entry.name);
    if (path === keep || entry.name.includes(".tmp-")) continue;
    await rm(path, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = performance.now();
  const built = await ensureBuilt();
  const ms = Math.round(performance.now() - started);
  process.stdout.write(
    `storefront ${built.fresh ? "built" : "already built"}: ${built.dir} (${ms} ms)\n`,
  );
}
