import { describe, expect, it } from "vitest";
import { pgErrorCode } from "./data/database.js";
import { causes } from "./errors.js";

describe("causes", () => {
  it("walks from the error through each cause, and stops at a cycle's depth limit", () => {
    const root = Object.assign(new Error("socket"), { code: "ECONNRESET" });
    const middle = new Error("fetch failed", { cause: root });
    const top = new Error("call failed", { cause: middle });
    expect([...causes(top)]).toEqual([top, middle, root]);
    const loop = new Error("loop");
    loop.cause = loop;
    expect([...causes(loop, 4)]).toHaveLength(4);
    expect([...causes(undefined)]).toEqual([]);
    expect([...causes("text")]).toEqual([]);
  });

  it("lets pgErrorCode find a SQLSTATE under drizzle's wrapping", () => {
    const driver = Object.assign(new Error("duplicate key"), { code: "23505" });
    expect(pgErrorCode(new Error("Failed query", { cause: driver }))).toBe("23505");
    expect(pgErrorCode(Object.assign(new Error("x"), { code: "ECONNREFUSED" }))).toBeUndefined();
  });
});
