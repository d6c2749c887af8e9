// What `npm start` says when something goes wrong before the banner: a taken port names the
// variable that moves it, and a process that dies is shown with its last lines. And a supervisor
// whose parent dies (npm's `sh -c`, killed) does not leave its processes behind.
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { bundleOf, supervisorBundle } from "../platform/processes.js";
import { freePort, runToExit, spawnGathering, waitForOutput } from "../platform/testing.js";
import { build } from "./build.js";

// What `npm start` runs: the supervisor's bundle, built first as its prestart does.
const start = new URL(`../${bundleOf(supervisorBundle)}`, import.meta.url).pathname;
beforeAll(() => build(), 60_000);

async function freePorts(): Promise<Record<string, string>> {
  const names = ["ACCOUNT", "CATALOG", "ORDER", "GATEWAY", "WEB", "POSTGRES"];
  const ports: Record<string, string> = {};
  for (const name of names) ports[`${name}_PORT`] = String(await freePort());
  return ports;
}

/** Runs the supervisor in a scratch directory until it exits; its output and exit code. */
async function run(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const cwd = await mkdtemp(join(tmpdir(), "bazaar-start-"));
  await chmod(cwd, 0o711); // as root, the database's postgres user must pass through
  try {
    return await runToExit(process.execPath, ["--enable-source-maps", start], {
      cwd,
      env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "warn", ...env },
    });
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}

describe("npm start when something is wrong", () => {
  it("names the variable to set when a port is taken, before starting anything", async () => {
    const ports = await freePorts();
    const holder = net.createServer();
    await new Promise<void>((resolve) =>
      holder.listen(Number(ports.GATEWAY_PORT), "127.0.0.1", resolve),
    );
    try {
      const { code, output } = await run(ports);
      expect(code).toBe(1);
      expect(output).toContain(`port ${ports.GATEWAY_PORT} for gateway is already in use`);
      expect(output).toContain("GATEWAY_PORT=");
      expect(output).not.toContain("set PORT");
      expect(output).not.toContain("PostgreSQL");
    } finally {
      holder.close();
    }
  }, 30_000);

  it("reports a process that dies with its last lines, and stops the rest", async () => {
    // A variable only the order service reads, so that it alone fails.
    const { code, output } = await run({ ...(await freePorts()), RECOVERY_AFTER_MS: "soon" });
    expect(code).toBe(1);
    expect(output).toContain(
      "order exited unexpectedly (code 1); stopping the rest. Its last lines:",
    );
    expect(output).toMatch(
      /\n {2}order: invalid configuration:\n {2} {2}RECOVERY_AFTER_MS must be an integer/,
    );
    expect(output).not.toContain("Bazaar is running");
  }, 60_000);

  it("stops every process when its parent dies without passing the signal on", async () => {
    const ports = await freePorts();
    const cwd = await mkdtemp(join(tmpdir(), "bazaar-start-"));
    await chmod(cwd, 0o711);
    try {
      // As npm runs it: under `sh -c`, which dies of a SIGTERM and forwards nothing.
      const launched = spawnGathering(
        "sh",
        ["-c", `"${process.execPath}" --enable-source-maps "${start}"; true`],
        { cwd, env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "warn", ...ports } },
      );
      const shell = launched.child;
      await waitForOutput(launched, "Bazaar is running", 60_000);
      const children = await readFile(
        `/proc/${shell.pid}/task/${shell.pid}/children`,
        "utf8",
      ).catch(() => "");
      const supervisor = Number(children.trim().split(/\s+/)[0]);
      expect(supervisor).toBeGreaterThan(0);
      shell.kill("SIGTERM");
      const alive = (pid: number) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      for (let i = 0; i < 300 && alive(supervisor); i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(alive(supervisor), launched.output).toBe(false);
      const gateway = await fetch(`http://127.0.0.1:${ports.GATEWAY_PORT}/readyz`).then(
        () => "answers",
        () => "gone",
      );
      expect(gateway).toBe("gone");
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  }, 90_000);
});
