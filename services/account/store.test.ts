// The store's batched token-version lookup: concurrent questions share a statement, each still
// gets its own account's answer, and a password change is seen by the very next question.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uuidv7 } from "../../platform/data/ids.js";
import { type AccountTestbed, openAccountTestbed } from "./testing.js";

describe("AccountStore.tokenVersion", () => {
  let bed: AccountTestbed;
  beforeAll(async () => {
    bed = await openAccountTestbed();
  });
  afterAll(() => bed?.close());

  const make = (name: string) =>
    bed.store.create({
      name,
      email: `${name}-${uuidv7()}@example.com`,
      role: "customer",
      passwordHash: "not-a-real-hash",
    });

  it("answers concurrent lookups each with its own account's version", async () => {
    const made = await Promise.all(Array.from({ length: 30 }, (_, i) => make(`v${i}`)));
    // Bump every third account's version once, every fifth twice more.
    for (const [i, account] of made.entries()) {
      const bumps = (i % 3 === 0 ? 1 : 0) + (i % 5 === 0 ? 2 : 0);
      for (let b = 0; b < bumps; b++) await bed.store.update(account.id, { passwordHash: `h${b}` });
    }
    const expected = made.map((_, i) => (i % 3 === 0 ? 1 : 0) + (i % 5 === 0 ? 2 : 0));
    const asked = [
      ...made.map((a) => a.id),
      ...made.map((a) => a.id.toUpperCase()),
      uuidv7(), // unknown
      "not-a-uuid",
    ];
    const answers = await Promise.all(asked.map((id) => bed.store.tokenVersion(id)));
    expect(answers).toEqual([...expected, ...expected, 0, 0]);
  });

  it("sees a password change at the next lookup", async () => {
    const account = await make("revoked");
    expect(await bed.store.tokenVersion(account.id)).toBe(0);
    const during = bed.store.tokenVersion(account.id);
    await bed.store.update(account.id, { passwordHash: "changed" });
    await during;
    expect(await bed.store.tokenVersion(account.id)).toBe(1);
  });
});
