// The README tells the truth: its configuration table lists exactly the variables the processes
// read, its scripts table every npm script, and its shell commands for GraphQL, `npm run token`,
// curl and `buf curl` run as written against a real `npm start` (on free ports, substituted
// for the defaults the README shows). Not run here: the compose and Kubernetes commands
// (no Docker engine or cluster; CI checks those files), and `npm ci`/`npm start` themselves
// (scripts/e2e.test.ts runs the supervisor).
import { type ChildProcess, execFile } from "node:child_process";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { schema as gateway } from "../gateway/config.js";
import { bundleOf, processes, processNames, supervisorBundle } from "../platform/processes.js";
import { freePort, spawnGathering, waitForOutput } from "../platform/testing.js";
import { schema as account } from "../services/account/config.js";
import { schema as catalog } from "../services/catalog/config.js";
import { schema as order } from "../services/order/config.js";
import { schema as web } from "../web/config.js";
import { build } from "./build.js";
import { portVariable } from "./start-text.js";

const root = new URL("..", import.meta.url).pathname;
const readme = await readFile(join(root, "README.md"), "utf8");

/** The text of a `## title` section, up to the next `## `. */
function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  expect(start, `README section "${title}"`).toBeGreaterThan(-1);
  const end = readme.indexOf("\n## ", start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

describe("README tables", () => {
  it("lists every variable the processes read, and only those", () => {
    const read = new Set<string>([
      ...[account, catalog, order, gateway, web].flatMap((s) => Object.keys(s.entries)),
      ...processNames.map(portVariable), // npm start
      "POSTGRES_PORT", // npm start (scripts/postgres.ts)
      "NO_COLOR", // platform/observability/logger.ts, scripts/start.ts
      "TEST_DATABASE_URL", // platform/testing.ts, scripts/test-database.ts
      "TEST_LOG_LEVEL", // platform/testing.ts
      "OTEL_EXPORTER_OTLP_ENDPOINT", // platform/observability/tracing.ts
    ]);
    const listed = new Set<string>();
    for (const row of section("Configuration").split("\n")) {
      const first = row.startsWith("| `") ? row.split("|")[1] : undefined;
      for (const [, name] of first?.matchAll(/`([A-Z][A-Z0-9_]*)`/g) ?? []) listed.add(name ?? "");
    }
    expect([...read].filter((v) => !listed.has(v)).sort(), "read but not in the README").toEqual(
      [],
    );
    expect([...listed].filter((v) => !read.has(v)).sort(), "in the README but not read").toEqual(
      [],
    );
  });

  it("lists every npm script", async () => {
    const { scripts } = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    const table = section("Scripts");
    const missing = Object.keys(scripts).filter(
      (name) => !table.includes(`npm ${name}\``) && !new RegExp(`\\b${name}\\b`).test(table),
    );
    expect(missing).toEqual([]);
  });
});

const exec = promisify(execFile);
const hasJq = await exec("jq", ["--version"]).then(
  () => true,
  () => false,
);

describe.skipIf(!hasJq)("README commands against npm start", () => {
  let supervisor: ChildProcess;
  let cwd: string;
  const ports: Record<string, number> = {};

  beforeAll(async () => {
    for (const name of [...processNames.map(portVariable), "POSTGRES_PORT"]) {
      ports[name] = await freePort();
    }
    cwd = await mkdtemp(join(tmpdir(), "bazaar-readme-"));
    await chmod(cwd, 0o711);
    // What `npm start` runs: its prestart builds the bundles, then node runs the supervisor's.
    await build();
    const launched = spawnGathering(
      process.execPath,
      ["--enable-source-maps", join(root, bundleOf(supervisorBundle))],
      {
        cwd,
        env: {
          PATH: process.env.PATH ?? "",
          LOG_LEVEL: "warn",
          ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
        },
      },
    );
    supervisor = launched.child;
    await waitForOutput(launched, "Bazaar is running");
  }, 120_000);

  afterAll(async () => {
    if (supervisor && supervisor.exitCode === null) {
      const exited = new Promise((resolve) => supervisor.once("exit", resolve));
      supervisor.kill("SIGTERM");
      await exited;
    }
    if (cwd) await rm(cwd, { recursive: true, force: true });
  }, 30_000);

  /** The README's ```sh blocks in a section, with this run's ports for the default ones. */
  const blocks = (title: string) =>
    [...section(title).matchAll(/```sh\n([\s\S]*?)```/g)].map(([, body]) => {
      let script = body ?? "";
      for (const name of processNames) {
        script = script.replaceAll(
          `localhost:${processes[name].port}`,
          `localhost:${ports[portVariable(name)]}`,
        );
      }
      return script;
    });

  const run = async (script: string) => {
    const { stdout } = await exec("bash", ["-euo", "pipefail", "-c", script], {
      cwd: root,
      env: { ...process.env, ACCOUNT_PORT: String(ports.ACCOUNT_PORT) },
      maxBuffer: 10 * 1024 * 1024,
    });
    return stdout;
  };

  it("GraphQL from a shell: search, npm run token, createOrder, me", async () => {
    const [script] = blocks("Explore the GraphQL API");
    const out = await run(script ?? "");
    expect(out).not.toContain('"errors"');
    expect(out).toMatch(/"createOrder":\{"id":"[^"]+","totalPrice":/);
    expect(out).toContain('"role":"ADMIN"');
  }, 60_000);

  it("buf curl and curl against the services, then an order and its history", async () => {
    const [services, orders] = blocks("Call the services");
    const out = await run(services ?? "");
    expect(out).toContain("bazaar.account.v1.AccountService/Login");
    expect(out).toContain('"status": "SERVING"');
    expect(out).toContain("Walnut cutting board");
    const history = await run(orders ?? "");
    expect(history).toContain('"order": {');
    expect(history).toContain('"orders": [');
  }, 120_000);

  it("npm run token fails clearly on a wrong password", async () => {
    const failed = await exec("npm", ["run", "-s", "token", "--", "admin@example.com", "wrong"], {
      cwd: root,
      env: { ...process.env, ACCOUNT_PORT: String(ports.ACCOUNT_PORT) },
    }).catch((error: { code: number; stdout: string; stderr: string }) => error);
    expect(failed).toMatchObject({ code: 1, stdout: "" });
    expect((failed as { stderr: string }).stderr).toMatch(
      /^token: login as admin@example.com failed: .*\(Unauthenticated\)\n$/m,
    );
    expect((failed as { stderr: string }).stderr.split("\n").length).toBeLessThan(5);
  }, 30_000);
});
