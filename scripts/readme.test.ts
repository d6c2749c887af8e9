// Every shell command in the README and docs/ runs as written: each ```sh block, in page order
// (README.md first, then docs/ by name), against one real `npm start` on free ports, substituted
// for the defaults the pages show. A block that cannot run here says why in its fence, from a
// fixed list (```sh docker: no Docker engine; CI checks those files). The tables and links of
// the docs are checked by scripts/docs.test.ts.
import { type ChildProcess, execFile } from "node:child_process";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleOf, processes, processNames, supervisorBundle } from "../platform/processes.js";
import { freePort, spawnGathering, waitForOutput } from "../platform/testing.js";
import { build } from "./build.js";
import { documentationFiles } from "./docs.js";
import { portVariable } from "./start-text.js";

const root = new URL("..", import.meta.url).pathname;

/** Why a block is not run here, by the word after `sh` in its fence. */
const notRunHere: Record<string, string> = {
  start: "`npm ci` and `npm start` themselves: scripts/e2e.test.ts runs the supervisor",
  docker: "no Docker engine on our machines: CI runs `docker-compose config -q`",
  kubernetes: "no cluster: scripts/kubernetes.test.ts renders and validates the manifests",
  bench: "benchmarks take minutes: run on purpose (docs/performance.md)",
  test: "test commands: `npm test` and CI run these suites themselves",
};

interface Block {
  page: string;
  index: number;
  script: string;
}

/** Every ```sh block of the README and docs/ that runs here; fails on a fence it cannot read. */
async function shellBlocks(): Promise<Block[]> {
  const blocks: Block[] = [];
  for (const page of await documentationFiles()) {
    const text = await readFile(join(root, page), "utf8");
    let index = 0;
    for (const [, fence = "", body = ""] of text.matchAll(/^ *```([^\n]*)\n([\s\S]*?)^ *```$/gm)) {
      const [language, tag, ...rest] = fence.trim().split(/\s+/);
      if (["bash", "shell", "console", "zsh"].includes(language ?? "")) {
        throw new Error(`${page}: write \`\`\`sh, not \`\`\`${language} (only sh blocks are run)`);
      }
      if (language !== "sh") continue;
      index++;
      if (tag !== undefined && (!(tag in notRunHere) || rest.length > 0)) {
        throw new Error(
          `${page}: \`\`\`sh ${tag}: say why it is not run with one of ${Object.keys(notRunHere).join(", ")}`,
        );
      }
      // Indented blocks (in a list) are indented as a whole.
      const indent = /^ */.exec(body)?.[0].length ?? 0;
      const script = body
        .split("\n")
        .map((line) => line.slice(indent))
        .join("\n");
      if (tag === undefined) blocks.push({ page, index, script });
    }
  }
  return blocks;
}

const blocks = await shellBlocks();

/**
 * What particular blocks must print, beyond running cleanly: each names a page and a piece of
 * its script, and must find its block (so that it cannot silently stop checking anything).
 */
const expectations: { page: string; contains: string; check: (out: string) => void }[] = [
  {
    page: "README.md",
    contains: "--list-methods http://localhost:50052",
    check: (out) => expect(out).toContain("bazaar.catalog.v1.CatalogService/ListProducts"),
  },
  {
    page: "README.md",
    contains: "ListAccounts",
    check: (out) => {
      expect(out).toContain("Gooseneck Electric Kettle");
      expect(out).toContain('"email":"admin@example.com"');
    },
  },
  {
    page: "README.md",
    contains: "try-twice",
    check: (out) => {
      const ids = out.trim().split("\n");
      expect(ids).toHaveLength(2);
      expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
      expect(ids[1]).toBe(ids[0]);
    },
  },
  {
    page: "docs/tour.md",
    contains: "createOrder",
    check: (out) => {
      expect(out).toMatch(/"createOrder":\{"id":"[^"]+","totalPrice":/);
      expect(out).toContain('"role":"ADMIN"');
    },
  },
  {
    page: "docs/tour.md",
    contains: "CreateAccount",
    check: (out) => {
      expect(out).toContain("bazaar.account.v1.AccountService/Login");
      expect(out).toContain('"status": "SERVING"');
      expect(out).toContain("Walnut cutting board");
    },
  },
  {
    page: "docs/tour.md",
    contains: "ListOrdersForAccount",
    check: (out) => {
      expect(out).toContain('"order": {');
      expect(out).toContain('"orders": [');
    },
  },
];

describe("the docs' blocks", () => {
  it("are sh blocks, each run or said why not, and every expectation finds its block", () => {
    expect(blocks.length).toBeGreaterThan(0);
    const unmatched = expectations.filter(
      (e) => !blocks.some((b) => b.page === e.page && b.script.includes(e.contains)),
    );
    expect(unmatched.map((e) => `${e.page}: ${e.contains}`)).toEqual([]);
  });
});

const exec = promisify(execFile);
const hasJq = await exec("jq", ["--version"]).then(
  () => true,
  () => false,
);

describe.skipIf(!hasJq)("the docs' commands against npm start", () => {
  let supervisor: ChildProcess;
  let cwd: string;
  const ports: Record<string, number> = {};

  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), "bazaar-readme-"));
    await chmod(cwd, 0o711);
    // What `npm start` runs: its prestart builds the bundles, then node runs the supervisor's.
    await build();
    // Picked after the build, just before they are used: a port found free before the build's
    // seconds could meanwhile become another test's (CI once failed on "port … for web is
    // already in use").
    for (const name of [...processNames.map(portVariable), "POSTGRES_PORT"]) {
      ports[name] = await freePort();
    }
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

  /** This run's ports for the default ones the pages show. */
  const withPorts = (script: string) => {
    let result = script;
    for (const name of processNames) {
      result = result.replaceAll(
        `localhost:${processes[name].port}`,
        `localhost:${ports[portVariable(name)]}`,
      );
    }
    return result;
  };

  const run = async (script: string) => {
    const { stdout } = await exec("bash", ["-euo", "pipefail", "-c", withPorts(script)], {
      cwd: root,
      env: { ...process.env, ACCOUNT_PORT: String(ports.ACCOUNT_PORT) },
      maxBuffer: 10 * 1024 * 1024,
    });
    return stdout;
  };

  for (const block of blocks) {
    const first = block.script.split("\n").find((line) => line && !line.startsWith("#")) ?? "";
    it(`${block.page} block ${block.index}: ${first.slice(0, 60)}`, async () => {
      const out = await run(block.script);
      expect(out).not.toContain('"errors"'); // GraphQL
      expect(out).not.toMatch(/"code": ?"[a-z_]+"/); // a Connect error, which curl -s prints
      for (const e of expectations) {
        if (e.page === block.page && block.script.includes(e.contains)) e.check(out);
      }
    }, 60_000);
  }

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
