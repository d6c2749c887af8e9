// Tracing off costs nothing at start-up either: a process without OTEL_EXPORTER_OTLP_ENDPOINT
// loads every entry point's modules and calls startTracing, and still has no OpenTelemetry SDK
// or instrumentation in memory, only the API (a few small modules the hooks test against).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

// Imports what `node --import tsx <entry>` imports for each process (the entry guard keeps
// them from starting), starts tracing as they do, then names the @opentelemetry packages that
// were loaded: they are all CommonJS, so each one sits in require's cache.
const probe = `
import { createRequire } from "node:module";
const here = "file://" + process.cwd() + "/";
for (const entry of ["services/account/main.ts", "services/catalog/main.ts",
  "services/order/main.ts", "gateway/main.ts"]) await import(new URL(entry, here).href);
const { startTracing } = await import(new URL("platform/observability/tracing.ts", here).href);
const tracing = await startTracing("probe");
const names = Object.keys(createRequire(import.meta.url).cache)
  .map((file) => /node_modules\\/(@opentelemetry\\/[^/]+)\\//.exec(file)?.[1])
  .filter(Boolean);
console.log(JSON.stringify({ on: tracing !== undefined, packages: [...new Set(names)].sort() }));
await tracing?.shutdown();
`;

async function loaded(env: NodeJS.ProcessEnv): Promise<{ on: boolean; packages: string[] }> {
  const { OTEL_EXPORTER_OTLP_ENDPOINT: _, ...rest } = process.env;
  const { stdout } = await run(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "-e", probe],
    { env: { ...rest, LOG_LEVEL: "silent", ...env } },
  );
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}");
}

describe("tracing off", () => {
  it("loads the OpenTelemetry API only, no SDK, exporter or instrumentation", async () => {
    expect(await loaded({})).toEqual({ on: false, packages: ["@opentelemetry/api"] });
  });

  it("while on, the same probe sees the SDK and the HTTP instrumentation", async () => {
    // Port 9 (discard): nothing is exported during the probe anyway, no span is made.
    const { on, packages } = await loaded({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" });
    expect(on).toBe(true);
    expect(packages).toEqual(
      expect.arrayContaining(["@opentelemetry/sdk-node", "@opentelemetry/instrumentation-http"]),
    );
  });
});
