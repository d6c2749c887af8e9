// Every Bazaar process in one table: the service configs take their default ports and peer
// URLs from it, `npm start` launches from it, and tests and benchmarks find the processes by it.

export interface ProcessInfo {
  /** Its port when PORT is unset. */
  port: number;
  /** Its TypeScript entry, from the repository root (`npm run build` bundles it; tsx runs it). */
  entry: string;
  /** The variable through which other processes are told where it is. */
  urlVariable: string;
  /** Whether it owns a database (npm start gives it one in the embedded PostgreSQL). */
  database: boolean;
}

export const processes = {
  account: {
    port: 50051,
    entry: "services/account/main.ts",
    urlVariable: "ACCOUNT_URL",
    database: true,
  },
  catalog: {
    port: 50052,
    entry: "services/catalog/main.ts",
    urlVariable: "CATALOG_URL",
    database: true,
  },
  order: { port: 50053, entry: "services/order/main.ts", urlVariable: "ORDER_URL", database: true },
  gateway: { port: 8080, entry: "gateway/main.ts", urlVariable: "GATEWAY_URL", database: false },
  // The storefront: a static page that calls the three services from the browser.
  web: { port: 5173, entry: "web/main.ts", urlVariable: "WEB_URL", database: false },
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
