// `npm run build` (and before every `npm start`): one esbuild bundle per process, plain
// JavaScript that `node` runs without a TypeScript loader. Loading the code through tsx cost each
// process ~0.6 s and ~60 MB; a bundle of our own code (packages stay in node_modules) does not.
//
// Every bundle lands in one folder (dist/<name>.js and its source map), so a source file is at
// the same relative path from any of them. Our code finds files beside its sources through
// `import.meta.url` (migrations, schema.graphql, the seed file, the storefront's sources); in a
// bundle that would be the bundle's URL, so each module's `import.meta.url` becomes its own
// source file's URL, computed from the bundle's location (dist/ can move with the tree). The one
// exception is the entry module's `isEntryPoint(import.meta.url)`, which must see the bundle.
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { build as esbuild, type Plugin } from "esbuild";
import { distDir, processes, supervisorBundle } from "../platform/processes.js";

const root = fileURLToPath(new URL("..", import.meta.url));

/** What gets bundled, by output name: every process of the registry, and the supervisor. */
export const entries: Record<string, string> = {
  ...Object.fromEntries(Object.entries(processes).map(([name, p]) => [name, p.entry])),
  [supervisorBundle]: "scripts/start.ts",
};

/** `import.meta.url` → the module's own source URL, relative to the bundle running it. */
function sourceUrls(outdir: string, entryFiles: Set<string>): Plugin {
  return {
    name: "source-import-meta-url",
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, async (args) => {
        const source = await readFile(args.path, "utf8");
        const fromBundle = relative(outdir, args.path).split("\\").join("/");
        const own = `new URL(${JSON.stringify(fromBundle)}, import.meta.url).href`;
        const isEntry = entryFiles.has(args.path);
        const contents = source.replace(/\bimport\.meta\.url\b/g, (match, offset: number) =>
          isEntry && source.slice(offset - "isEntryPoint(".length, offset) === "isEntryPoint("
            ? match
            : own,
        );
        return { contents, loader: "ts" };
      });
    },
  };
}

export interface BuildResult {
  outdir: string;
  /** The files written because their content changed (none when dist/ was up to date). */
  written: string[];
  milliseconds: number;
}

/**
 * Bundles every entry into `outdir` (dist/ by default). A file is replaced only when its content
 * changed, by a rename, so that starts running side by side (tests) never read half a file.
 */
export async function build(outdir = join(root, distDir)): Promise<BuildResult> {
  const began = performance.now();
  const absolute = resolve(outdir);
  const result = await esbuild({
    absWorkingDir: root,
    entryPoints: Object.entries(entries).map(([out, entry]) => ({ out, in: entry })),
    entryNames: "[name]",
    outdir: absolute,
    bundle: true,
    packages: "external",
    platform: "node",
    format: "esm",
    // Code shared by several bundles goes into chunks, and each `await import()` stays lazy:
    // without splitting, esbuild hoists the packages a dynamically imported module imports to
    // the bundle's top (the OpenTelemetry SDK and the OpenSearch client would load in every
    // process, used or not).
    splitting: true,
    // Beside the entries: each module's source URL is computed relative to dist/ itself.
    chunkNames: "[name]-[hash]",
    target: "node20",
    sourcemap: "linked",
    // The sources stay beside dist/: stack traces name them, the maps need not carry them.
    sourcesContent: false,
    write: false,
    logLevel: "warning",
    plugins: [sourceUrls(absolute, new Set(Object.values(entries).map((e) => join(root, e))))],
  });
  await mkdir(absolute, { recursive: true });
  const written: string[] = [];
  for (const file of result.outputFiles) {
    const current = await readFile(file.path, "utf8").catch(() => undefined);
    if (current === file.text) continue;
    const temporary = `${file.path}.${process.pid}.tmp`;
    await mkdir(dirname(file.path), { recursive: true });
    await writeFile(temporary, file.contents);
    await rename(temporary, file.path).catch(async (error: unknown) => {
      await rm(temporary, { force: true });
      throw error;
    });
    written.push(relative(root, file.path));
  }
  // Chunks of earlier builds (their names carry a hash of their content) are left behind.
  const current = new Set(result.outputFiles.map((file) => file.path));
  for (const name of await readdir(absolute)) {
    const path = join(absolute, name);
    if (!current.has(path) && !name.endsWith(".tmp")) await rm(path, { force: true });
  }
  return { outdir: absolute, written, milliseconds: performance.now() - began };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { outdir: { type: "string" } } });
  const { outdir, written, milliseconds } = await build(values.outdir);
  process.stdout.write(
    `built ${Object.keys(entries).length} bundles into ${relative(process.cwd(), outdir) || "."} in ${Math.round(milliseconds)} ms (${written.length === 0 ? "unchanged" : `${written.length} files written`})\n`,
  );
}
