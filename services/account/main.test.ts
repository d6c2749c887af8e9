// The account service as a process: refuses bad config, keeps its data and its first admin
// across restarts, never logs secrets, and exits 0 on SIGTERM.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import { bearer, createScratchDatabase, testAuthority } from "../../platform/testing.js";
import { loadAccountConfig } from "./config.js";
import { startAccountService } from "./main.js";

const main = new URL("./main.ts", import.meta.url).pathname;

function launch(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  let output = "";
  const child = spawn(process.execPath, ["--import", "tsx", main], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
  return { child, output: () => output };
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

describe("the account process", () => {
  it("refuses to start on a bad variable, naming it, with exit code 1", async () => {
    const { child, output } = launch({ PORT: "not-a-port", LOG_LEVEL: "silent" });
    expect(await exited(child)).toBe(1);
    expect(output()).toMatch(/PORT must be an integer \(got "not-a-port"\)/);
  });

  it("says which port is taken when it cannot listen", async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const dir = await mkdtemp(join(tmpdir(), "bazaar-account-"));
      const database = await createScratchDatabase();
      const { child, output } = launch({
        PORT: String(port),
        HOST: "127.0.0.1",
        DATABASE_URL: database.url,
        AUTH_KEYS_DIR: join(dir, "keys"),
        LOG_LEVEL: "silent",
      });
      expect(await exited(child)).toBe(1);
      expect(output()).toContain(`cannot listen on port ${port} (already in use); set PORT`);
      await database.drop();
    } finally {
      blocker.close();
    }
  });

  it("exits 0 on SIGTERM after serving", async () => {
    const dir = await mkdtemp(join(tmpdir(), "bazaar-account-"));
    const database = await createScratchDatabase();
    const { child, output } = launch({
      PORT: "0",
      HOST: "127.0.0.1",
      DATABASE_URL: database.url,
      AUTH_KEYS_DIR: join(dir, "keys"),
    });
    for (let i = 0; i < 150 && !output().includes("account service listening"); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(output()).toContain("account service listening");
    expect(output()).toContain("admin@example.com / bazaar-admin");
    child.kill("SIGTERM");
    expect(await exited(child)).toBe(0);
    expect(output()).toContain("stopped");
    await database.drop();
  });
});

describe("restarts", () => {
  it("keeps accounts and creates the first admin only once", async () => {
    const database = await createScratchDatabase();
    const { authority } = testAuthority();
    const env = {
      PORT: "0",
      HOST: "127.0.0.1",
      DATABASE_URL: database.url,
      ...authority.env("account"),
      LOG_LEVEL: "silent",
    };

    const first = await startAccountService(
      loadAccountConfig({ ...env, ADMIN_PASSWORD: "first-password" }),
    );
    let client = createClient(
      AccountService,
      createConnectTransport({ baseUrl: first.server.url, httpVersion: "1.1" }),
    );
    await client.createAccount({
      name: "Kept",
      email: "kept@example.com",
      password: "kept-password",
    });
    await first.stop();

    // A changed ADMIN_PASSWORD does not overwrite the admin made on the first start.
    const second = await startAccountService(
      loadAccountConfig({ ...env, ADMIN_PASSWORD: "second-password" }),
    );
    client = createClient(
      AccountService,
      createConnectTransport({ baseUrl: second.server.url, httpVersion: "1.1" }),
    );
    const admin = await client.login({ email: "admin@example.com", password: "first-password" });
    expect(admin.account?.role).toBe(2);
    const { accounts } = await client.listAccounts({ take: 100 }, bearer(admin.accessToken));
    expect(accounts.map((a) => a.email).sort()).toEqual(["admin@example.com", "kept@example.com"]);
    await second.stop();
    await database.drop();
  });
});

describe("logs", () => {
  it("write one line per RPC and never a password, hash or token", async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: "info" },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const database = await createScratchDatabase();
    const { authority } = testAuthority();
    const service = await startAccountService(
      loadAccountConfig({
        PORT: "0",
        HOST: "127.0.0.1",
        DATABASE_URL: database.url,
        ...authority.env("account"),
      }),
      { logger },
    );
    const client = createClient(
      AccountService,
      createConnectTransport({ baseUrl: service.server.url, httpVersion: "1.1" }),
    );
    await client.createAccount({
      name: "Secretive",
      email: "secretive@example.com",
      password: "hunter2-hunter2",
    });
    const { accessToken } = await client.login(
      { email: "secretive@example.com", password: "hunter2-hunter2" },
      { headers: { "x-request-id": "trace-me-42" } },
    );
    await client
      .login({ email: "secretive@example.com", password: "wrong-password-1" })
      .catch(() => {});
    await service.stop();
    await database.drop();
    const all = lines.join("");
    expect(all).not.toContain("hunter2");
    expect(all).not.toContain("wrong-password-1");
    expect(all).not.toContain(accessToken);
    expect(all).not.toContain("$argon2id$");
    const rpcLines = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "rpc");
    expect(rpcLines.map((l) => [l.rpc, l.code])).toEqual([
      ["bazaar.account.v1.AccountService/CreateAccount", "OK"],
      ["bazaar.account.v1.AccountService/Login", "OK"],
      ["bazaar.account.v1.AccountService/Login", "Unauthenticated"],
    ]);
    expect(rpcLines[1].requestId).toBe("trace-me-42");
    expect(typeof rpcLines[0].ms).toBe("number");
  });
});
