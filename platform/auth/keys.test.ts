// Development key discovery without the start-up race: lookups of a key written moments ago
// all find it (they share reloads and none is refused while one runs), and an unknown key is
// still refused quickly.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { developmentKeys, generateSigningKey, KeySet, type PublicJwk } from "./keys.js";

const folders: string[] = [];
afterAll(async () => {
  for (const dir of folders) await rm(dir, { recursive: true, force: true });
});
const keysDir = async () => {
  const parent = await mkdtemp(join(tmpdir(), "bazaar-keys-"));
  folders.push(parent);
  return join(parent, "keys");
};

describe("KeySet", () => {
  it("finds a key written moments ago for every one of many concurrent lookups", async () => {
    const dir = await keysDir();
    const { keys } = await developmentKeys(dir, "account");
    // The catalog's key is made beforehand, so lookups can name it before it is published.
    const { key, privateJwk } = generateSigningKey("catalog");
    await writeFile(join(dir, "catalog.private.jwk"), JSON.stringify(privateJwk), { mode: 0o600 });
    const racing: Promise<unknown>[] = [];
    let publishing = true;
    const published = developmentKeys(dir, "catalog").finally(() => {
      publishing = false;
    });
    // Lookups racing the write, one every few milliseconds: found or not, none may hang.
    while (publishing) {
      racing.push(keys.get(key.kid));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect((await published).signing.kid).toBe(key.kid);
    // The key now on disk, 100 lookups at once: every one finds it (before: the first found
    // it, the rest were refused for a second).
    const after = await Promise.all(Array.from({ length: 100 }, () => keys.get(key.kid)));
    expect(after.filter((k) => k?.service === "catalog")).toHaveLength(100);
    await Promise.all(racing);
  });

  it("answers a lookup that arrives during a reload from the next reload, not with a refusal", async () => {
    const { publicJwk } = generateSigningKey("order").key;
    const onDisk: PublicJwk[] = [];
    let reloads = 0;
    const keys = new KeySet([], async () => {
      reloads++;
      const seen = [...onDisk]; // the folder as read when this reload started
      await new Promise((resolve) => setTimeout(resolve, 50));
      return seen;
    });
    const first = keys.get(publicJwk.kid); // starts a reload of the folder without the key
    await new Promise((resolve) => setTimeout(resolve, 10));
    onDisk.push(publicJwk); // the order service writes its key
    const during = Array.from({ length: 50 }, () => keys.get(publicJwk.kid));
    expect(await first).toBeUndefined();
    const answers = await Promise.all(during);
    expect(answers.every((k) => k?.service === "order")).toBe(true);
    // All fifty waited for one shared reload, not one each.
    expect(reloads).toBe(2);
  });

  it("refuses unknown keys quickly, sharing reloads however many lookups ask", async () => {
    let reloads = 0;
    const keys = new KeySet([], async () => {
      reloads++;
      return [];
    });
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => keys.get(`catalog.unknown-${i}`)),
    );
    expect(answers.every((k) => k === undefined)).toBe(true);
    expect(reloads).toBeLessThanOrEqual(2);
    expect(performance.now() - started).toBeLessThan(1000);
    // A key id that names none of our services is refused without reading anything.
    expect(await keys.get("mallory.123")).toBeUndefined();
    expect(reloads).toBeLessThanOrEqual(2);
  });
});
