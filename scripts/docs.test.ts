// The documentation tells the truth about what mirrors the code: docs/configuration.md is what
// `npm run docs` makes from the config schemas, the variables read outside them are still read
// where it says, docs/scripts.md names every npm script, and every link between the README,
// docs/ and the tree leads to a file (and a heading) that exists. The commands in the docs are
// run by scripts/readme.test.ts.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, normalize, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { processNames } from "../platform/processes.js";
import {
  configurationFile,
  configurationReference,
  documentationFiles,
  otherVariables,
} from "./docs.js";
import { portVariable } from "./start-text.js";

const root = new URL("..", import.meta.url).pathname;
const read = (path: string) => readFile(join(root, path), "utf8");

describe("generated and mirrored tables", () => {
  it("docs/configuration.md is what `npm run docs` makes from the schemas", async () => {
    expect(await read(configurationFile), "run `npm run docs` and commit the result").toBe(
      await configurationReference(),
    );
  });

  it("still finds each variable read outside the schemas where it says", async () => {
    const ports = new Set(processNames.map(portVariable));
    for (const { name, readIn } of otherVariables) {
      const source = await read(readIn);
      // npm start reads each process's port variable by a name it composes (portVariable).
      const reads = ports.has(name) ? source.includes("portVariable(") : source.includes(name);
      expect(reads, `${name} is no longer read in ${readIn}`).toBe(true);
    }
  });

  it("docs/scripts.md names every npm script", async () => {
    const { scripts } = JSON.parse(await read("package.json")) as {
      scripts: Record<string, string>;
    };
    const table = (await read("docs/scripts.md"))
      .split("\n")
      .filter((line) => line.startsWith("| "))
      .join("\n");
    const missing = Object.keys(scripts).filter(
      (name) => !table.includes(`npm ${name}\``) && !new RegExp(`\\b${name}\\b`).test(table),
    );
    expect(missing).toEqual([]);
  });
});

/**
 * Pages other branches are writing at the same time, linked from the docs map before they land.
 * Each must be taken off this list once it exists (the test below says so), so that a missing
 * page is tolerated only while it is truly pending.
 */
const pendingPages: string[] = [];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

async function anchorsOf(path: string): Promise<Set<string>> {
  const text = (await read(path)).replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map(([, heading]) => slug(heading ?? "")));
}

describe("links", () => {
  it("lead from the README and docs/ to files and headings that exist", async () => {
    const broken: string[] = [];
    for (const file of await documentationFiles()) {
      // Links inside code are examples, not links.
      const text = (await read(file)).replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
      for (const [, target = ""] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
        const [path = "", anchor] = target.split("#");
        const linked = path === "" ? file : normalize(join(dirname(file), path));
        if (pendingPages.includes(linked) && !existsSync(join(root, linked))) continue;
        if (!existsSync(join(root, linked))) {
          broken.push(`${file}: ${target} (no ${relative(".", linked)})`);
        } else if (anchor && linked.endsWith(".md") && !(await anchorsOf(linked)).has(anchor)) {
          broken.push(`${file}: ${target} (no heading #${anchor} in ${linked})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it("tolerate a missing page only while it is pending", () => {
    const landed = pendingPages.filter((page) => existsSync(join(root, page)));
    expect(landed, "these exist now: take them off pendingPages in scripts/docs.test.ts").toEqual(
      [],
    );
  });
});
