// `npm run docs`: writes docs/configuration.md from the processes' config schemas (each
// variable's description, default and who reads it), so that the reference never says other
// than the code. scripts/docs.test.ts fails when the committed file is stale.
import { execFile } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as v from "valibot";
import { schema as gateway } from "../gateway/config.js";
import { processes, processNames } from "../platform/processes.js";
import { isEntryPoint } from "../platform/runtime.js";
import { schema as account } from "../services/account/config.js";
import { schema as catalog } from "../services/catalog/config.js";
import { schema as order } from "../services/order/config.js";
import { schema as web } from "../web/config.js";
import { portVariable } from "./start-text.js";

const root = fileURLToPath(new URL("..", import.meta.url));
export const configurationFile = "docs/configuration.md";

const schemas = { account, catalog, order, gateway, web } as const;
type Reader = keyof typeof schemas;
const services: Reader[] = ["account", "catalog", "order"];

/**
 * Variables read outside the processes' schemas: by `npm start`, the tests and the tracing set-up.
 * `readIn` is the file that reads each; scripts/docs.test.ts checks that it still does.
 */
export const otherVariables = [
  ...processNames.map((name) => ({
    name: portVariable(name),
    readBy: "`npm start`",
    shownDefault: `\`${processes[name].port}\``,
    description: `where \`npm start\` runs the ${name} process (and tells the others)`,
    readIn: "scripts/start.ts",
  })),
  {
    name: "POSTGRES_PORT",
    readBy: "`npm start`",
    shownDefault: "`54329`",
    description: "the embedded PostgreSQL's port",
    readIn: "scripts/postgres.ts",
  },
  {
    name: "NO_COLOR",
    readBy: "all, `npm start`",
    shownDefault: "unset",
    description: "set: no colours in pretty logs and `npm start`'s output",
    readIn: "platform/observability/logger.ts",
  },
  {
    name: "OTEL_EXPORTER_OTLP_ENDPOINT",
    readBy: "all",
    shownDefault: "unset (tracing off)",
    description:
      "OTLP/HTTP endpoint for traces, e.g. `http://localhost:4318` (see [operations](operations.md#traces-and-metrics))",
    readIn: "platform/observability/tracing.ts",
  },
  {
    name: "TEST_DATABASE_URL",
    readBy: "`npm test`",
    shownDefault: "an embedded PostgreSQL started for the run",
    description: "the PostgreSQL server tests make their scratch databases on",
    readIn: "platform/testing.ts",
  },
  {
    name: "TEST_LOG_LEVEL",
    readBy: "`npm test`",
    shownDefault: "`silent`",
    description:
      "the log level of the services tests run in-process (`error` shows each INTERNAL with its cause)",
    readIn: "platform/testing.ts",
  },
];

interface Row {
  name: string;
  readBy: Reader[];
  defaults: Map<Reader, string>;
  description: string;
}

/** What an unset variable becomes, as the docs show it. */
function defaultOf(entry: v.GenericSchema): string {
  const shown = (v.getMetadata(entry) as { shownDefault?: string }).shownDefault;
  if (shown) return shown;
  const parsed = v.safeParse(entry, undefined);
  if (!parsed.success) throw new Error("no default: give `described` a shownDefault");
  return parsed.output === undefined ? "unset" : `\`${String(parsed.output)}\``;
}

/** Who reads a variable: "all", "services", or the processes by name. */
function readers(names: Reader[]): string {
  const all = Object.keys(schemas) as Reader[];
  if (all.every((n) => names.includes(n))) return "all";
  if (services.every((n) => names.includes(n))) {
    return ["services", ...names.filter((n) => !services.includes(n))].join(", ");
  }
  return names.join(", ");
}

/** The rows of the table: one per variable and meaning, in the order the schemas list them. */
export function configurationRows(): Row[] {
  const rows: Row[] = [];
  for (const [reader, schema] of Object.entries(schemas) as [Reader, v.GenericSchema][]) {
    const entries = (schema as unknown as { entries: Record<string, v.GenericSchema> }).entries;
    for (const [name, entry] of Object.entries(entries)) {
      const description = v.getDescription(entry);
      if (!description) {
        throw new Error(
          `${reader}: ${name} has no description: wrap it in described() in its config.ts`,
        );
      }
      let row = rows.find((r) => r.name === name && r.description === description);
      if (!row) {
        row = { name, readBy: [], defaults: new Map(), description };
        rows.push(row);
      }
      row.readBy.push(reader);
      row.defaults.set(reader, defaultOf(entry));
    }
  }
  return rows;
}

/** The README and every page of docs/, by path from the repository's root. */
export async function documentationFiles(): Promise<string[]> {
  const pages = (await readdir(`${root}docs`)).filter((f) => f.endsWith(".md")).sort();
  return ["README.md", ...pages.map((page) => `docs/${page}`)];
}

const cell = (text: string) => text.replaceAll("|", "\\|");

/** docs/configuration.md as `npm run docs` writes it: the table, formatted as Biome wants it. */
export async function configurationReference(): Promise<string> {
  return biomeFormatted(configurationFile, configurationTable());
}

/** The page before formatting. */
function configurationTable(): string {
  const lines = [
    "<!-- Made by `npm run docs` (scripts/docs.ts) from the config schemas: edit those, not this. -->",
    "",
    "# Configuration",
    "",
    "Each process reads its environment once at start and refuses to start, naming the variable,",
    "when a value is wrong. **services** means account, catalog and order; **all** adds the",
    "gateway and the storefront (`web`). Each variable is described where it is parsed (the",
    "`config.ts` of each process, `platform/config.ts` for what they share); this page is made",
    "from those schemas by `npm run docs`, and `scripts/docs.test.ts` fails when it is stale.",
    "",
    "| variable | read by | default | meaning |",
    "| --- | --- | --- | --- |",
  ];
  for (const row of configurationRows()) {
    const distinct = new Set(row.defaults.values());
    const shown =
      distinct.size === 1
        ? [...distinct][0]
        : [...row.defaults].map(([reader, value]) => `${reader} ${value}`).join(", ");
    lines.push(
      `| \`${row.name}\` | ${readers(row.readBy)} | ${cell(shown ?? "")} | ${cell(row.description)} |`,
    );
  }
  for (const other of otherVariables) {
    lines.push(
      `| \`${other.name}\` | ${other.readBy} | ${cell(other.shownDefault)} | ${cell(other.description)} |`,
    );
  }
  lines.push(
    "",
    "The benchmarks take `BENCH_*` variables or flags (`npm run bench:orders -- --help` lists",
    "them; see [performance](performance.md)). Compose reads `DEMO` (see [operations](operations.md)).",
    "",
  );
  return lines.join("\n");
}

/** `text` as `biome format` leaves a file named `path` (Markdown tables padded, …). */
async function biomeFormatted(path: string, text: string): Promise<string> {
  const biome = promisify(execFile)(
    `${root}node_modules/.bin/biome`,
    ["format", `--stdin-file-path=${path}`],
    { cwd: root, maxBuffer: 16 * 1024 * 1024 },
  );
  biome.child.stdin?.end(text);
  return (await biome).stdout;
}

if (isEntryPoint(import.meta.url)) {
  const file = `${root}${configurationFile}`;
  const made = await configurationReference();
  const current = await readFile(file, "utf8").catch(() => "");
  if (current !== made) await writeFile(file, made);
  process.stdout.write(`${configurationFile} ${current === made ? "was up to date" : "written"}\n`);
}
