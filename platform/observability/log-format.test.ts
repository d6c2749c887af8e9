// The terminal log line: one line per RPC with method, code, duration and request id.
import { describe, expect, it } from "vitest";
import { formatLogLine } from "./log-format.js";

const time = new Date(2026, 0, 2, 3, 4, 5, 67).getTime();

describe("formatLogLine", () => {
  it("puts an RPC on one line: time, level, service, method, code, duration, request id", () => {
    const line = formatLogLine(
      JSON.stringify({
        level: 30,
        time,
        service: "catalog",
        name: "catalog",
        requestId: "req-1",
        rpc: "bazaar.catalog.v1.CatalogService/GetProduct",
        code: "NOT_FOUND",
        ms: 1.5,
        caller: "acc-1",
        msg: "rpc",
      }),
      { colors: false },
    );
    expect(line).toBe(
      "03:04:05.067 INFO  catalog CatalogService/GetProduct NOT_FOUND 1.5ms caller=acc-1 req=req-1\n",
    );
  });

  it("colours the level when asked, and puts an error's stack under its line", () => {
    const line = formatLogLine(
      JSON.stringify({
        level: 50,
        time,
        service: "order",
        msg: "boom",
        err: { stack: "Error: x\n    at y" },
      }),
      { colors: true },
    );
    expect(line.split("\n")).toHaveLength(4);
    expect(line).toContain("\x1b[31mERROR\x1b[0m");
    expect(line).toContain("Error: x");
  });

  it("passes through a line that is not JSON", () => {
    expect(formatLogLine("plain words", { colors: false })).toBe("plain words\n");
  });
});
