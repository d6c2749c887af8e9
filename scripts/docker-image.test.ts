// The image and compose.yaml, checked on a machine with no Docker engine: the compose file's
// promises (what is published, what has a health check), and the Dockerfile's runtime stage
// done by hand — its COPY lines into a scratch folder, `npm ci --omit=dev` there, then the
// catalog started with compose's command and environment, as its container would be.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { TestAuthority } from "../platform/auth/auth-testing.js";
import { nodeArgs, processNames } from "../platform/processes.js";
import { createScratchDatabase, freePort } from "../platform/testing.js";
import { build } from "./build.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: a parsed YAML document, asserted on field by field.
type Loose = any;

/** compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}`, as docker compose reads them. */
function interpolate(value: unknown, env: Record<string, string>): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_, name, op, arg) => {
      const set = env[name];
      if (set) return set;
      if (op === "?") throw new Error(`compose.yaml requires ${name}: ${arg}`);
      return op === "-" ? arg : "";
    });
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env)]));
  }
  return value;
}

async function loadCompose(env: Record<string, string>): Promise<Loose> {
  const text = await readFile(join(root, "compose.yaml"), "utf8");
  return interpolate(parse(text, { merge: true }), env);
}

// What `npm run keys > .env` and docs/operations.md's admin password line put into .env.
const keys = new TestAuthority();
const secrets = {
  ACCOUNT_PRIVATE_KEY: JSON.stringify(keys.keys.account.privateJwk),
  CATALOG_PRIVATE_KEY: JSON.stringify(keys.keys.catalog.privateJwk),
  ORDER_PRIVATE_KEY: JSON.stringify(keys.keys.order.privateJwk),
  AUTH_PUBLIC_KEYS: keys.publicKeys(),
  ADMIN_PASSWORD: "Compose-test-9",
};

describe("compose.yaml", () => {
  it("refuses to start without the keys and the admin password, naming them", async () => {
    await expect(loadCompose({})).rejects.toThrow(
      /requires (AUTH_PUBLIC_KEYS|ACCOUNT_PRIVATE_KEY|CATALOG_PRIVATE_KEY|ORDER_PRIVATE_KEY|ADMIN_PASSWORD)/,
    );
  });

  it("publishes only the gateway and the storefront beyond this machine, and probes every process", async () => {
    const { services } = await loadCompose(secrets);
    const published = Object.entries(services as Record<string, Loose>)
      .flatMap(([name, s]) => (s.ports ?? []).map((p: string) => [name, p]))
      .filter(([, p]) => !p.startsWith("127.0.0.1:"));
    expect(published).toEqual([
      ["gateway", "8080:8080"],
      ["web", "5173:5173"],
    ]);
    expect(services.opensearch.ports).toBeUndefined();
    for (const [name, service] of Object.entries(services as Record<string, Loose>)) {
      expect(service.healthcheck?.test, `${name} has a health check`).toBeDefined();
    }
  });

  it("runs each process's bundle with the V8 options platform/processes.ts gives it, as Kubernetes does", async () => {
    const { services } = await loadCompose(secrets);
    const kubernetes = await readdir(join(root, "deploy/kubernetes/base"));
    for (const name of processNames) {
      const want = ["node", ...nodeArgs(name, "bundle")];
      expect(services[name].command, `compose's ${name}`).toEqual(want);
      expect(kubernetes).toContain(`${name}.yaml`);
      const documents = parseAllDocuments(
        await readFile(join(root, "deploy/kubernetes/base", `${name}.yaml`), "utf8"),
      ).map((d) => d.toJS() as Loose);
      const deployment = documents.find((d) => d?.kind === "Deployment");
      expect(deployment.spec.template.spec.containers[0].command, `Kubernetes' ${name}`).toEqual(
        want,
      );
    }
  });

  it("has a demo mode: DEMO=true seeds the catalog and lets GraphiQL load the schema", async () => {
    const plain = await loadCompose(secrets);
    expect(plain.services.catalog.environment.SEED_DEMO_DATA).toBe("false");
    expect(plain.services.gateway.environment.GRAPHQL_INTROSPECTION).toBe("false");
    const demo = await loadCompose({ ...secrets, DEMO: "true" });
    expect(demo.services.catalog.environment.SEED_DEMO_DATA).toBe("true");
    expect(demo.services.gateway.environment.GRAPHQL_INTROSPECTION).toBe("true");
  });
});

/** The runtime stage: the last FROM to the end of the Dockerfile. */
async function runtimeStage(): Promise<string[]> {
  const lines = (await readFile(join(root, "Dockerfile"), "utf8")).split("\n");
  const from = lines.findLastIndex((line) => line.startsWith("FROM "));
  return lines.slice(from).filter((line) => line.trim() && !line.startsWith("#"));
}

describe("the Dockerfile's runtime stage, outside Docker", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  let child: ChildProcess | undefined;
  afterAll(async () => {
    child?.kill("SIGKILL");
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it("installs without dev dependencies and serves the catalog with compose's environment", async (ctx) => {
    const stage = await runtimeStage();
    expect(stage.join("\n")).toMatch(/RUN npm ci --omit=dev/);
    expect(stage).toContain("ENV NODE_ENV=production");
    const app = await mkdtemp(join(tmpdir(), "bazaar-image-"));
    cleanups.push(() => rm(app, { recursive: true, force: true }));

    // The build stage's bundles, made as its `npm run build` makes them in the same place
    // (the repository's root, as /app there), so their paths back to the sources hold.
    expect(stage).toContain("COPY --from=build /app/dist ./dist");
    await cp((await build()).outdir, join(app, "dist"), { recursive: true });
    // COPY <sources…> <destination>, each source as git tracks it (a fresh clone's content).
    for (const line of stage.filter((l) => l.startsWith("COPY ") && !l.includes("--from"))) {
      const sources = line.split(/\s+/).slice(1, -1);
      const { stdout } = await run("git", ["ls-files", "-z", "--", ...sources], { cwd: root });
      const files = stdout.split("\0").filter(Boolean);
      expect(files.length, `${line} copies something`).toBeGreaterThan(0);
      for (const file of files) {
        await mkdir(dirname(join(app, file)), { recursive: true });
        await cp(join(root, file), join(app, file));
      }
    }

    const install = await run("npm", ["ci", "--omit=dev", "--no-audit", "--no-fund"], {
      cwd: app,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: "production" },
      timeout: 150_000,
    }).catch((error: Error & { stderr?: string }) => error);
    if (install instanceof Error) {
      const output = install.stderr ?? install.message;
      if (/ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|network/i.test(output)) {
        ctx.skip(`npm ci cannot reach the npm registry, so the image steps are not checked here`);
      }
      throw install;
    }
    // Nothing the build stage needs leaks into the runtime.
    await expect(stat(join(app, "node_modules/vite"))).rejects.toThrow();
    await expect(stat(join(app, "node_modules/tsx"))).resolves.toBeDefined();

    const database = await createScratchDatabase();
    cleanups.push(() => database.drop());
    const port = await freePort();
    const { services } = await loadCompose(secrets);
    const catalog = services.catalog;
    const [command, ...args] = catalog.command as string[];
    expect(command).toBe("node");
    // Its bundle, with no TypeScript loader.
    expect(args).toEqual(["--enable-source-maps", "dist/catalog.js"]);
    child = spawn(process.execPath, args, {
      cwd: app,
      env: {
        PATH: process.env.PATH,
        ...catalog.environment,
        // What differs from the container: its database, and a free port on loopback.
        DATABASE_URL: database.url,
        HOST: "127.0.0.1",
        PORT: String(port),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout?.on("data", (chunk) => {
      output += chunk;
    });
    child.stderr?.on("data", (chunk) => {
      output += chunk;
    });
    let ready = false;
    for (let i = 0; i < 600 && !ready && child.exitCode === null; i++) {
      ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ready, `the catalog became ready; its output:\n${output}`).toBe(true);
    // Production mode: logs are JSON lines.
    const first = output.split("\n").find((line) => line.startsWith("{"));
    expect(first && JSON.parse(first).level).toBeDefined();
    const exited = new Promise<number | null>((resolve) => child?.once("exit", resolve));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  }, 240_000);
});
