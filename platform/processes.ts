// Every Bazaar process in one table: the service configs take their default ports and peer
// URLs from it, `npm start` launches from it, and tests and benchmarks find the processes by it.
import { join } from "node:path";

export interface ProcessInfo {
  /** Its port when PORT is unset. */
  port: number;
  /** Its TypeScript entry, from the repository root (`npm run build` bundles it; tsx runs it). */
  entry: string;
  /** The variable through which other processes are told where it is. */
  urlVariable: string;
  /** Whether it owns a database (npm start gives it one in the embedded PostgreSQL). */
  database: boolean;
  /**
   * V8 options `node` runs it with, wherever it runs: `npm start`, the benchmarks, compose and
   * Kubernetes (a test holds those files to this list).
   */
  nodeOptions: readonly string[];
}

export const processes = {
  account: {
    port: 50051,
    entry: "services/account/main.ts",
    urlVariable: "ACCOUNT_URL",
    database: true,
    nodeOptions: [],
  },
  catalog: {
    port: 50052,
    entry: "services/catalog/main.ts",
    urlVariable: "CATALOG_URL",
    database: true,
    nodeOptions: [],
  },
  order: {
    port: 50053,
    entry: "services/order/main.ts",
    urlVariable: "ORDER_URL",
    database: true,
    nodeOptions: [],
  },
  gateway: {
    port: 8080,
    entry: "gateway/main.ts",
    urlVariable: "GATEWAY_URL",
    database: false,
    // A larger young generation: a GraphQL answer's objects live for the request's few backend
    // round trips, and with V8's default (16 MB semi-spaces) many survived into the old
    // generation under load. `BENCH_ONLY=nested npm run bench:gateway -- --seconds 10`, two
    // alternating pairs: gateway CPU 424 / 413 → 301 / 288 µs per request, 1982 / 1943 →
    // 2349 / 2534 req/s; the flat query unchanged within the noise. Memory under load grows by
    // up to a few times the size; idle, nothing.
    nodeOptions: ["--max-semi-space-size=64"],
  },
  // The storefront: a static page that calls the three services from the browser.
  web: {
    port: 5173,
    entry: "web/main.ts",
    urlVariable: "WEB_URL",
    database: false,
    nodeOptions: [],
  },
} as const satisfies Record<string, ProcessInfo>;

export type ProcessName = keyof typeof processes;

/** In start order: the services before the gateway and the storefront that call them. */
export const processNames = Object.keys(processes) as ProcessName[];

/** Where a process listens on this machine: its default port unless told another. */
export function localUrl(name: ProcessName, port: number = processes[name].port): string {
  return `http://localhost:${port}`;
}

/** Where `npm run build` (scripts/build.ts) writes the bundles, from the repository root. */
export const distDir = "dist";

/** The bundle of `npm start`'s supervisor (scripts/start.ts), beside the processes' bundles. */
export const supervisorBundle = "start";

/** The file `node` runs for a process under `npm start` and in the image: its bundle. */
export function bundleOf(name: ProcessName | typeof supervisorBundle): string {
  return `${distDir}/${name}.js`;
}

/**
 * The arguments `node` runs a process with: its V8 options, then its bundle (source maps on, so
 * stack traces name the .ts files) or, from the sources, its entry through tsx's loader. Paths
 * are relative to the repository unless `root` is given; `tsx` names the loader to import.
 */
export function nodeArgs(
  name: ProcessName,
  from: "bundle" | "sources",
  options: { root?: string; tsx?: string } = {},
): string[] {
  const { nodeOptions, entry } = processes[name];
  const path = (file: string) => (options.root === undefined ? file : join(options.root, file));
  return from === "bundle"
    ? [...nodeOptions, "--enable-source-maps", path(bundleOf(name))]
    : [...nodeOptions, "--import", options.tsx ?? "tsx", path(entry)];
}
