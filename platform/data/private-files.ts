// Local state (.data/: database files, credentials, development secrets) is private to the user
// who runs Bazaar: directories 0700, files 0600, and modes tightened when they were looser.
import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, rename, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Makes `path` (and missing parents) a directory only its owner can list or change (0700),
 * tightening its mode when it exists. `traverseGid` lets one group pass through without
 * listing it (0710): the embedded PostgreSQL, run as its own user when we are root, must reach
 * its data below. A directory already 0710 is left so, so both uses agree on `.data`.
 */
export async function ensurePrivateDir(
  path: string,
  options: { traverseGid?: number } = {},
): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  if (process.platform === "win32") return;
  if (options.traverseGid !== undefined) await chown(path, -1, options.traverseGid);
  const mode = (await stat(path)).mode & 0o777;
  if (options.traverseGid !== undefined) {
    if (mode !== 0o710) await chmod(path, 0o710);
  } else if (mode !== 0o700 && mode !== 0o710) {
    await chmod(path, 0o700);
  }
}

/** Tightens an existing file to 0600 (a secret written by an older version may be looser). */
export async function ensurePrivateFile(path: string): Promise<void> {
  if (process.platform === "win32") return;
  if (((await stat(path)).mode & 0o777) !== 0o600) await chmod(path, 0o600);
}

/** Replaces `path` with `content` (0600), atomically: readers see the old file or the new. */
export async function writePrivateFile(path: string, content: string): Promise<void> {
  await ensurePrivateDir(dirname(path));
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString("hex")}`;
  await writeFile(temporary, content, { mode: 0o600 });
  await rename(temporary, path);
}
