// Prices at the GraphQL edge: Float currency units ↔ integer cents, exactly. Below this file
// money is always bigint cents.
import { badUserInput } from "./errors.js";

/** Cents to currency units: 1999n → 19.99 (exact for every price the catalog accepts). */
export function centsToPrice(cents: bigint): number {
  return Number(cents) / 100;
}

/**
 * Currency units to cents, or BAD_USER_INPUT naming `field`. The decimal text of the number is
 * read digit by digit, so 0.1 + 0.2 style binary noise never turns into a wrong cent.
 */
export function priceToCents(price: number, field: string): bigint {
  const range = "must be 0.01 to 1000000.00";
  if (!Number.isFinite(price) || price < 0.01 || price > 1_000_000) {
    throw badUserInput([{ field, message: range }]);
  }
  // Number#toString is the shortest text that round-trips: 19.99 → "19.99"; within the range
  // it never uses an exponent.
  const match = /^(\d+)(?:\.(\d{1,2}))?$/.exec(String(price));
  if (!match) throw badUserInput([{ field, message: "must have at most 2 decimals" }]);
  const [, whole = "0", fraction = ""] = match;
  return BigInt(whole) * 100n + BigInt(fraction.padEnd(2, "0"));
}
