import { describe, expect, it } from "vitest";
import { formatCents } from "./money.js";

describe("formatCents", () => {
  it("formats integer cents exactly, grouped, with two decimals", () => {
    expect(formatCents(0n)).toBe("$0.00");
    expect(formatCents(5n)).toBe("$0.05");
    expect(formatCents(3989n)).toBe("$39.89");
    expect(formatCents(123456789n)).toBe("$1,234,567.89");
    expect(formatCents(-250n)).toBe("-$2.50");
  });

  it("stays exact past what a float holds", () => {
    // 2^63 - 1 cents: as a Number this would round to …5808.00.
    expect(formatCents(9223372036854775807n)).toBe("$92,233,720,368,547,758.07");
  });
});
