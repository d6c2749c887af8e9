// Ed25519 key material: a service's own signing key, and the public keys of the services it
// trusts. A key's id names its owner ("account.3f9c…"), so a verifier knows whose key signed.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import { link, readdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ConfigError } from "../config.js";
import { ensurePrivateDir, ensurePrivateFile } from "../data/private-files.js";

/** The services that hold a key; a token signed by anyone else is refused. */
export const signingServices = ["account", "catalog", "order"] as const;
export type ServiceName = (typeof signingServices)[number];

export interface PublicJwk {
  kty: "OKP";
  crv: "Ed25519";
  x: string;
  kid: string;
  alg: "EdDSA";
  use: "sig";
}

export interface SigningKey {
  service: ServiceName;
  kid: string;
  privateKey: KeyObject;
  publicJwk: PublicJwk;
}

export function isServiceName(name: string): name is ServiceName {
  return (signingServices as readonly string[]).includes(name);
}

/** The service a key id belongs to, or undefined when it names none we know. */
export function ownerOf(kid: string): ServiceName | undefined {
  const owner = kid.split(".", 1)[0] ?? "";
  return isServiceName(owner) ? owner : undefined;
}

/** A new key pair for `service`; `privateJwk` is what AUTH_PRIVATE_KEY holds. */
export function generateSigningKey(service: ServiceName): {
  key: SigningKey;
  privateJwk: Record<string, string>;
} {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" }) as Record<string, string>;
  const kid = `${service}.${thumbprint(jwk.x ?? "")}`;
  const privateJwk = { kty: "OKP", crv: "Ed25519", x: jwk.x ?? "", d: jwk.d ?? "", kid };
  return { key: signingKey(service, privateKey, kid), privateJwk };
}

function signingKey(service: ServiceName, privateKey: KeyObject, kid: string): SigningKey {
  const { x } = createPublicKey(privateKey).export({ format: "jwk" }) as { x: string };
  return {
    service,
    kid,
    privateKey,
    publicJwk: { kty: "OKP", crv: "Ed25519", x, kid, alg: "EdDSA", use: "sig" },
  };
}

// RFC 7638's thumbprint of an OKP key, shortened: stable for a key, different between keys.
function thumbprint(x: string): string {
  const canonical = JSON.stringify({ crv: "Ed25519", kty: "OKP", x });
  return createHash("sha256").update(canonical).digest("base64url").slice(0, 16);
}

/** `service`'s signing key from AUTH_PRIVATE_KEY (a private Ed25519 JWK with a `kid`). */
export function parsePrivateKey(service: ServiceName, text: string): SigningKey {
  const problem = (why: string) =>
    new ConfigError(`invalid configuration:\n  AUTH_PRIVATE_KEY ${why}`);
  let jwk: Record<string, unknown>;
  try {
    jwk = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw problem("must be a JSON Web Key (npm run keys -- <service> makes one)");
  }
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.d !== "string") {
    throw problem('must be a private Ed25519 JWK ("kty": "OKP", "crv": "Ed25519", with "d")');
  }
  if (typeof jwk.kid !== "string" || ownerOf(jwk.kid) !== service) {
    throw problem(
      `must have a "kid" starting with "${service}." (it is the ${service} service's key)`,
    );
  }
  try {
    const privateKey = createPrivateKey({ key: jwk as never, format: "jwk" });
    return signingKey(service, privateKey, jwk.kid);
  } catch {
    throw problem("is not a valid Ed25519 key");
  }
}

/** The trusted public keys from AUTH_PUBLIC_KEYS (a JWK Set: `{"keys": [...]}`). */
export function parsePublicKeys(text: string): PublicJwk[] {
  const problem = (why: string) =>
    new ConfigError(`invalid configuration:\n  AUTH_PUBLIC_KEYS ${why}`);
  let set: { keys?: unknown };
  try {
    set = JSON.parse(text) as { keys?: unknown };
  } catch {
    throw problem('must be a JWK Set, {"keys": [...]}');
  }
  if (!Array.isArray(set.keys)) throw problem('must be a JWK Set, {"keys": [...]}');
  return set.keys.map((key: Record<string, unknown>, i) => {
    if (key.kty !== "OKP" || key.crv !== "Ed25519" || typeof key.x !== "string") {
      throw problem(`key ${i} must be a public Ed25519 JWK`);
    }
    if ("d" in key) throw problem(`key ${i} is a private key: publish only public keys`);
    if (typeof key.kid !== "string" || !ownerOf(key.kid)) {
      throw problem(
        `key ${i} must have a "kid" starting with one of ${signingServices.join(", ")}`,
      );
    }
    return { kty: "OKP", crv: "Ed25519", x: key.x, kid: key.kid, alg: "EdDSA", use: "sig" };
  });
}

/** A trusted public key and the service it belongs to. */
export interface TrustedKey {
  service: ServiceName;
  key: KeyObject;
}

/**
 * The public keys a process trusts, by key id. `reload` (development) is asked again for a key
 * id it does not know, so a service started later is trusted at once. Lookups share reloads:
 * each waits for the first reload that starts after it asked (so a key on disk by then is
 * found), and the lookups that arrive while one runs all share the next. Reloads start at most
 * every `minReloadGapMs`, so a flood of unknown key ids costs one small read of the folder per
 * gap, and an unknown key is refused within about one gap.
 */
export class KeySet {
  #keys = new Map<string, TrustedKey>();
  /** The reload that lookups arriving now will wait for: one not started yet. */
  #next: Promise<void> | undefined;
  /** The last reload queued or running; the next one starts after it. */
  #running: Promise<void> = Promise.resolve();
  /** When the last reload started. */
  #lastStart = Number.NEGATIVE_INFINITY;

  constructor(
    keys: readonly PublicJwk[],
    private readonly reload?: () => Promise<PublicJwk[]>,
    private readonly minReloadGapMs = 100,
  ) {
    this.add(keys);
  }

  async get(kid: string): Promise<TrustedKey | undefined> {
    const known = this.#keys.get(kid);
    // Only a key id naming one of our services can ever be found by reading the folder.
    if (known || !this.reload || !ownerOf(kid)) return known;
    await this.#reloadAfterNow();
    return this.#keys.get(kid);
  }

  #reloadAfterNow(): Promise<void> {
    if (this.#next) return this.#next;
    const reload = this.reload as () => Promise<PublicJwk[]>;
    const next = this.#running.then(async () => {
      const wait = this.#lastStart + this.minReloadGapMs - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      // From here on a lookup may no longer count on this reload: it joins the following one.
      this.#next = undefined;
      this.#lastStart = Date.now();
      this.add(await reload());
    });
    this.#next = next;
    this.#running = next.catch(() => {});
    return next;
  }

  add(keys: readonly PublicJwk[]): void {
    for (const jwk of keys) {
      const service = ownerOf(jwk.kid);
      if (!service) continue;
      this.#keys.set(jwk.kid, {
        service,
        key: createPublicKey({ key: jwk as never, format: "jwk" }),
      });
    }
  }
}

/**
 * Development keys under `dir` (0700): this service's private key (`<service>.private.jwk`,
 * 0600), made on first start, and every local service's public key (`<service>.public.jwk`).
 */
export async function developmentKeys(
  dir: string,
  service: ServiceName,
): Promise<{ signing: SigningKey; keys: KeySet }> {
  // The folder holding the keys (.data) is as private as the keys themselves.
  await ensurePrivateDir(dirname(dir));
  await ensurePrivateDir(dir);
  const file = join(dir, `${service}.private.jwk`);
  const signing = parsePrivateKey(service, await readOrCreate(file, service));
  await publish(join(dir, `${service}.public.jwk`), JSON.stringify(signing.publicJwk));
  const load = async () => {
    const names = (await readdir(dir)).filter((name) => name.endsWith(".public.jwk"));
    const texts = await Promise.all(names.map((name) => readFile(join(dir, name), "utf8")));
    return parsePublicKeys(`{"keys":[${texts.join(",")}]}`);
  };
  return { signing, keys: new KeySet(await load(), load) };
}

/**
 * Writes `text` to `file` unless it holds it already, aside and then renamed into place: the
 * other services starting at the same moment read every public key file, and must never see
 * one empty or half-written (writing in place truncates it first).
 */
async function publish(file: string, text: string): Promise<void> {
  if ((await readFile(file, "utf8").catch(() => undefined)) === text) return;
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(temporary, text, { mode: 0o600 });
  await rename(temporary, file);
}

async function readOrCreate(file: string, service: ServiceName): Promise<string> {
  try {
    await ensurePrivateFile(file);
    return await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  // Write aside, then link into place: link fails if another process won the race, and
  // nobody ever reads a half-written file.
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString("hex")}`;
  await writeFile(temporary, JSON.stringify(generateSigningKey(service).privateJwk), {
    mode: 0o600,
  });
  try {
    await link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    await unlink(temporary);
  }
  return readFile(file, "utf8");
}

/**
 * This service's signing key and the keys it trusts: from AUTH_PRIVATE_KEY / AUTH_PUBLIC_KEYS,
 * which production requires, or else the development keys under `dir`.
 */
export async function resolveKeys(options: {
  service: ServiceName;
  privateKey: string | undefined;
  publicKeys: string | undefined;
  production: boolean;
  dir: string;
}): Promise<{ signing: SigningKey; keys: KeySet }> {
  const { service } = options;
  if (options.production) {
    const missing = [
      options.privateKey
        ? ""
        : `  AUTH_PRIVATE_KEY must be set in production (the ${service} service's private Ed25519 JWK; npm run keys -- ${service} makes one)`,
      options.publicKeys
        ? ""
        : "  AUTH_PUBLIC_KEYS must be set in production (the JWK Set of every service's public key)",
    ].filter(Boolean);
    if (missing.length > 0) throw new ConfigError(`invalid configuration:\n${missing.join("\n")}`);
  }
  const development =
    options.privateKey && options.publicKeys
      ? undefined
      : await developmentKeys(options.dir, service);
  const signing = options.privateKey
    ? parsePrivateKey(service, options.privateKey)
    : (development as { signing: SigningKey }).signing;
  const keys = options.publicKeys
    ? new KeySet(parsePublicKeys(options.publicKeys))
    : (development as { keys: KeySet }).keys;
  // A service always trusts itself: its own key signs what it sends to itself in tests.
  keys.add([signing.publicJwk]);
  return { signing, keys };
}
