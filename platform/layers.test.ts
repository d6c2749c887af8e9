// platform/README.md's table says what each folder may import from the others; this holds the
// code to it. A source file (tests aside) importing another folder's file must find that folder,
// or that very file, named in its own folder's "may import" column.
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const root = new URL(".", import.meta.url).pathname;

/** Each folder's row: the folders (`data/`) and files (`data/ids.ts`) it may import. */
async function allowed(): Promise<Map<string, string[]>> {
  const readme = await readFile(join(root, "README.md"), "utf8");
  const rows = new Map<string, string[]>();
  for (const line of readme.split("\n")) {
    const cells = line.split("|").map((cell) => cell.trim());
    const folder = /^`([a-z]+)\/`$/.exec(cells[1] ?? "")?.[1];
    if (!folder || cells.length < 4) continue;
    const named = [...(cells[3] ?? "").matchAll(/`([a-z]+\/(?:[a-z-]+\.ts)?)`/g)].map(
      (m) => m[1] ?? "",
    );
    rows.set(folder, named);
  }
  return rows;
}

async function sources(folder: string): Promise<string[]> {
  const names = await readdir(join(root, folder));
  return names
    .filter((n) => n.endsWith(".ts") && !n.endsWith(".test.ts"))
    .map((n) => join(folder, n));
}

describe("platform/ folders", () => {
  it("import across folders only what README.md's table says each may import", async () => {
    const rows = await allowed();
    expect([...rows.keys()].sort()).toEqual(["auth", "data", "events", "http", "observability"]);
    const refused: string[] = [];
    for (const [folder, named] of rows) {
      for (const file of await sources(folder)) {
        const text = await readFile(join(root, file), "utf8");
        for (const [, spec = ""] of text.matchAll(/from "(\.[^"]+)"/g)) {
          const target = relative(root, resolve(dirname(join(root, file)), spec)).replace(
            /\.js$/,
            ".ts",
          );
          const into = target.includes("/") ? target.split("/")[0] : undefined;
          if (!into || into === folder || into.startsWith("..")) continue;
          if (named.includes(`${into}/`) || named.includes(target)) continue;
          refused.push(`${file} imports ${target}`);
        }
      }
    }
    expect(
      refused,
      "add the folder or file to the row in platform/README.md, or move the code",
    ).toEqual([]);
  });
});
