// The benchmarks' settings, read one way by all of them: each is a flag (`--seconds 8` or
// `--seconds=8`) or an environment variable (`BENCH_SECONDS=8`), the flag winning. `--help`
// lists a benchmark's settings and their defaults.
import { parseArgs } from "node:util";

interface Setting {
  default: number | boolean;
  help: string;
  /** 0 is a meaning of its own (say which in `help`), not a mistake. */
  zero?: boolean;
}

type Values<S extends Record<string, Setting>> = {
  [K in keyof S]: S[K]["default"] extends boolean ? boolean : number;
};

/** `--products-per-query` ↔ `BENCH_PRODUCTS_PER_QUERY`. */
const envName = (name: string) => `BENCH_${name.toUpperCase().replace(/-/g, "_")}`;

export function benchOptions<S extends Record<string, Setting>>(
  script: string,
  settings: S,
): Values<S> {
  const usage = [
    `usage: npm run ${script} -- [options]   (or the BENCH_* variables)`,
    ...Object.entries(settings).map(
      ([name, s]) =>
        `  --${name.padEnd(12)} ${envName(name).padEnd(18)} ${s.help} (default ${s.default})`,
    ),
  ].join("\n");
  let flags: Record<string, string | boolean | undefined>;
  try {
    flags = parseArgs({
      options: {
        help: { type: "boolean" },
        ...Object.fromEntries(
          Object.entries(settings).map(([name, s]) => [
            name,
            { type: typeof s.default === "boolean" ? ("boolean" as const) : ("string" as const) },
          ]),
        ),
      },
    }).values;
  } catch (error) {
    fail(`${script}: ${(error as Error).message}\n${usage}`);
  }
  if (flags.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const values: Record<string, number | boolean> = {};
  for (const [name, setting] of Object.entries(settings)) {
    const raw = flags[name] ?? process.env[envName(name)];
    if (typeof setting.default === "boolean") {
      values[name] =
        typeof raw === "boolean" ? raw : raw ? /^(1|true|yes)$/i.test(raw) : setting.default;
      continue;
    }
    const value = raw === undefined || raw === "" ? setting.default : Number(raw);
    const least = setting.zero ? 0 : Number.MIN_VALUE;
    if (typeof value !== "number" || !Number.isFinite(value) || value < least) {
      const wanted = setting.zero ? "0 or more" : "a positive number";
      fail(`${script}: --${name} (${envName(name)}) must be ${wanted}, got ${raw}`);
    }
    values[name] = value;
  }
  return values as Values<S>;
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}
