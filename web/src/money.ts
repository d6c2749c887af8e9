// Money is integer cents (bigint, as int64 arrives) everywhere; only this turns it into text.
const grouping = new Intl.NumberFormat("en-US");

/** 123456n → "$1,234.56", exactly: no floating point on the way. */
export function formatCents(cents: bigint): string {
  const sign = cents < 0n ? "-" : "";
  const abs = cents < 0n ? -cents : cents;
  const fraction = (abs % 100n).toString().padStart(2, "0");
  return `${sign}$${grouping.format(abs / 100n)}.${fraction}`;
}
