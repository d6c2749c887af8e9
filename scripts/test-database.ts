// Vitest's global setup: without TEST_DATABASE_URL, one embedded PostgreSQL for the whole run
// (the server `npm start` runs), in a temporary directory, on a free port. Test files each make
// their own database on it (createScratchDatabase); CI points TEST_DATABASE_URL elsewhere.
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningPostgres, startEmbeddedServer } from "../platform/data/embedded-postgres.js";
import { freePort } from "../platform/testing.js";

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.TEST_DATABASE_URL) return undefined;
  const work = await mkdtemp(join(tmpdir(), "bazaar-test-pg-"));
  // mkdtemp makes 0700; the server may run as the postgres user, which must pass through.
  await chmod(work, 0o711);
  let server: RunningPostgres | undefined;
  try {
    server = await startEmbeddedServer({
      root: join(work, "data"),
      port: await freePort(),
      password: randomBytes(24).toString("base64url"),
      // Throw-away data: durability buys nothing here, and every test file makes a database.
      settings: { fsync: "off", synchronous_commit: "off", full_page_writes: "off" },
    });
    // The forked test workers inherit this environment.
    process.env.TEST_DATABASE_URL = server.url("postgres");
  } catch (error) {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
    throw error;
  }
  const running = server;
  return async () => {
    await running.stop();
    await rm(work, { recursive: true, force: true });
  };
}
