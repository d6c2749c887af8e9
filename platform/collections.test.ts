import { describe, expect, it } from "vitest";
import { inRequestOrder } from "./collections.js";

describe("inRequestOrder", () => {
  it("answers in the order asked, drops unknown ids and repeats ids asked twice", () => {
    const rows = [
      { id: "a", n: 1 },
      { id: "c", n: 3 },
      { id: "b", n: 2 },
    ];
    expect(inRequestOrder(["b", "x", "a", "b"], rows, (r) => r.id).map((r) => r.n)).toEqual([
      2, 1, 2,
    ]);
    expect(inRequestOrder([], rows, (r) => r.id)).toEqual([]);
  });
});
