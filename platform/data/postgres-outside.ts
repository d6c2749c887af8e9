// Where the embedded server's files live when it runs as the postgres user (we are root) and
// that user cannot reach the clone: a clone under a 0700 /root, the default in many containers.
// Then the server's binaries and its cluster live under /var/lib/bazaar, the one place made
// for it, rather than loosening the permissions of the user's home (chmod o+x, or an ACL on
// /root that would outlive the clone):
//
//   /var/lib/bazaar                          root, 0711: the postgres user passes, nobody lists
//   /var/lib/bazaar/postgres-<version>/      the binaries, copied once per version (read-only)
//   /var/lib/bazaar/<hash of .data's path>/  the cluster: postgres, 0700
//
// The cluster's place is derived from the path of the .data/ it belongs to, so each clone has
// its own and finds it again at every start; .data/postgres is a symbolic link to it, so that
// `ls -l .data` shows where it is. Credentials and keys stay in .data/ (0700).
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import {
  chmod,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  realpath,
  rename,
  rm,
  stat,
  symlink,
} from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
import type { Binaries, ServerUser } from "./postgres-binaries.js";

/** The one directory Bazaar keeps outside a clone, for a server that cannot reach the clone. */
export const outsideRoot = "/var/lib/bazaar";

/**
 * The first directory, from `path` up to `/`, that `user` cannot search (enter), or undefined
 * when it reaches `path`. Only meaningful for another user than ourselves.
 */
export async function firstUnreachable(
  path: string,
  user: ServerUser,
): Promise<string | undefined> {
  if (user.uid === undefined || process.platform === "win32") return undefined;
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    const found = await stat(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined; // not made yet: we make it
      throw error;
    });
    if (!found) continue;
    const { mode, uid, gid } = found;
    const searchable =
      uid === user.uid ? mode & 0o100 : gid === user.gid ? mode & 0o010 : mode & 0o001;
    if (!searchable) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Where a cluster lives, for the `.data`-like directory `root` that holds its credentials. */
export interface ClusterPlace {
  dataDir: string;
  /** True when the cluster lives under /var/lib/bazaar, `root`/postgres a link to it. */
  outside: boolean;
  /** Outside: whether `root`/postgres already linked there (false once .data/ was deleted). */
  linked: boolean;
}

/**
 * `root`/postgres, unless we run the server as another user who cannot reach `root`: then a
 * directory under /var/lib/bazaar derived from `root`'s real path. A cluster already made in
 * `root` keeps its place; one placed outside stays outside even if the clone became reachable.
 * Inspects only: nothing is made here.
 */
export async function clusterPlace(root: string, user: ServerUser): Promise<ClusterPlace> {
  const inside = join(resolve(root), "postgres");
  const here = { dataDir: inside, outside: false, linked: false };
  if (user.uid === undefined || process.platform === "win32") return here;
  const entry = await lstat(inside).catch(() => undefined);
  if (entry?.isDirectory() && existsSync(join(inside, "PG_VERSION"))) return here;
  // `root` itself we make, open to the server's group (0710): what lies above it decides.
  if (!entry?.isSymbolicLink() && !(await firstUnreachable(dirname(resolve(root)), user))) {
    return here;
  }
  const dataDir = join(outsideRoot, await pathHash(resolve(root)));
  const target = entry?.isSymbolicLink() ? await readlink(inside) : undefined;
  return { dataDir, outside: true, linked: target === dataDir };
}

// The real path (symlinks in it resolved), so that one clone reached two ways is one cluster.
async function pathHash(root: string): Promise<string> {
  let parent = dirname(root);
  try {
    parent = await realpath(parent);
  } catch {
    // not made yet: the path as given
  }
  const real = join(parent, basename(root));
  return createHash("sha256").update(real).digest("hex").slice(0, 16);
}

/**
 * Makes the outside place ready before initdb: /var/lib/bazaar (root, 0711), and `root`/postgres
 * a link to the cluster's directory (replacing a stale link, or a directory an interrupted
 * start left there without a cluster).
 */
export async function prepareOutside(root: string, place: ClusterPlace): Promise<void> {
  await ensureOutsideRoot();
  const link = join(resolve(root), "postgres");
  if (place.linked) return;
  await rm(link, { recursive: true, force: true });
  await symlink(place.dataDir, link);
}

async function ensureOutsideRoot(): Promise<void> {
  await mkdir(outsideRoot, { recursive: true, mode: 0o711 });
  const { mode, uid } = await stat(outsideRoot);
  if (uid !== 0) throw new Error(`${outsideRoot} must belong to root`);
  if ((mode & 0o777) !== 0o711) await chmod(outsideRoot, 0o711);
}

/**
 * The server binaries as `user` can run them: in place when it reaches them, else a copy
 * under /var/lib/bazaar/postgres-<version>, made once (atomically: a copy half-made by an
 * interrupted start is never used) and reused by every clone of that version.
 */
export async function reachableBinaries(binaries: Binaries, user: ServerUser): Promise<Binaries> {
  const native = dirname(dirname(binaries.postgres));
  if (!(await firstUnreachable(native, user))) return binaries;
  const { version } = JSON.parse(await readFile(join(native, "..", "package.json"), "utf8")) as {
    version: string;
  };
  await ensureOutsideRoot();
  const copy = join(outsideRoot, `postgres-${version}`);
  if (!existsSync(join(copy, relative(native, binaries.postgres)))) {
    const scratch = await mkdtemp(join(outsideRoot, ".postgres-"));
    try {
      await cp(native, scratch, { recursive: true, verbatimSymlinks: true });
      await chmod(scratch, 0o755); // mkdtemp made it 0700
      await rename(scratch, copy);
    } catch (error) {
      await rm(scratch, { recursive: true, force: true });
      // Another start made it first: use theirs.
      if (!existsSync(join(copy, relative(native, binaries.postgres)))) throw error;
    }
  }
  return {
    initdb: join(copy, relative(native, binaries.initdb)),
    postgres: join(copy, relative(native, binaries.postgres)),
  };
}
