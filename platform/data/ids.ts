// Time-ordered UUIDs (v7, RFC 9562): ids sort by creation time, which keeps B-tree inserts
// local and gives a stable, unique tie-breaker for "oldest first" pagination.
import { randomBytes } from "node:crypto";

let lastMs = 0;
let counter = 0;

export function uuidv7(now: number = Date.now()): string {
  // Within one millisecond, a 12-bit counter in rand_a keeps ids from one process ordered.
  if (now <= lastMs) {
    counter = (counter + 1) & 0xfff;
    if (counter === 0) lastMs += 1;
    now = lastMs;
  } else {
    lastMs = now;
    counter = randomBytes(1)[0] ?? 0;
  }
  const bytes = randomBytes(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Any UUID's text form, either case; the one definition the validators use too. */
export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `value` has the shape of a UUID; ids of any other shape can name nothing. */
export function isUuid(value: string): boolean {
  return uuidPattern.test(value);
}
