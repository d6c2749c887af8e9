// Password hashing with argon2id (@node-rs/argon2 runs it on the libuv thread pool, so the
// event loop keeps serving). Parameters are the library's defaults, OWASP's recommendation:
// m = 19 MiB, t = 2, p = 1 (~10 ms per hash on this machine kind).
import { hash, verify } from "@node-rs/argon2";

// @node-rs/argon2 declares Algorithm as a const enum, which isolated modules cannot import.
const argon2id = 2;

export function hashPassword(password: string): Promise<string> {
  return hash(password, { algorithm: argon2id });
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

/**
 * A hash of a random password, made once, to verify against when a login names an unknown
 * email: both ways of failing then cost one verification and look the same from outside.
 */
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(crypto.randomUUID());
  return decoy;
}
let decoy: Promise<string> | undefined;
