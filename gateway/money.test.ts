import { describe, expect, it } from "vitest";
import { priceToCents } from "./money.js";

describe("money", () => {
  it("converts prices to cents exactly", () => {
    expect(priceToCents(19.99, "p")).toBe(1999n);
    expect(priceToCents(0.29, "p")).toBe(29n);
    expect(priceToCents(1.1, "p")).toBe(110n);
    expect(priceToCents(1000000, "p")).toBe(100000000n);
    expect(() => priceToCents(0.1 + 0.2, "p")).toThrow(/at most 2 decimals/);
    expect(() => priceToCents(Number.NaN, "p")).toThrow(/0.01 to 1000000.00/);
  });
});
