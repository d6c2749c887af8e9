// Rooms of a size one can hold (issue 22 part 5): a source file that is not a test stays at about
// 300 lines (a few over is not split for the sake of a number), or says at its top why it is one
// room anyway ("Over 300 lines on purpose: …").
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("..", import.meta.url).pathname;
const limit = 320;

describe("source files", () => {
  it(`are at most about 300 lines (${limit}), or say why at their top`, () => {
    const files = execFileSync("git", ["ls-files", "*.ts", "*.tsx"], {
      cwd: root,
      encoding: "utf8",
    })
      .split("\n")
      .filter(
        (f) => f && !f.startsWith("gen/") && !f.includes("/generated/") && !/\.test\.tsx?$/.test(f),
      );
    const unexplained = files.filter((file) => {
      const lines = readFileSync(`${root}${file}`, "utf8").split("\n");
      if (lines.length <= limit) return false;
      // The file's opening comment, however long.
      const end = lines.findIndex((line) => !line.startsWith("//"));
      const header = lines.slice(0, end === -1 ? lines.length : end).join("\n");
      return !/over 300 lines/i.test(header);
    });
    expect(unexplained, "split these by what each part owns, or say at the top why not").toEqual(
      [],
    );
  });
});
