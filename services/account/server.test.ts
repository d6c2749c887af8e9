// The account service as a real server on port 0: every protocol on one port, CORS,
// reflection through the real `buf` CLI, health, metrics, hostile input and graceful stop.
import { execFile } from "node:child_process";
import net from "node:net";
import { promisify } from "node:util";
import { Code, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import type { HostedService } from "../../platform/host.js";
import { rejection, testAuthority, testDatabaseEnv } from "../../platform/testing.js";
import { loadAccountConfig } from "./config.js";
import { startAccountService } from "./main.js";
import type * as schema from "./schema.js";

const run = promisify(execFile);
const buf = new URL("../../node_modules/.bin/buf", import.meta.url).pathname;

describe("account server", () => {
  let service: HostedService<typeof schema>;
  let url: string;
  let drop: () => Promise<void>;
  const { authority } = testAuthority();
  const unique = () => `${crypto.randomUUID().slice(0, 8)}@example.com`;

  beforeAll(async () => {
    const database = await testDatabaseEnv();
    drop = database.drop;
    const config = loadAccountConfig({
      ...database.env,
      PORT: "0",
      HOST: "127.0.0.1",
      ...authority.env("account"),
      LOG_LEVEL: "silent",
      ADMIN_EMAIL: "boss@example.com",
      ADMIN_PASSWORD: "boss-password",
    });
    service = await startAccountService(config);
    url = service.server.url;
  });

  afterAll(async () => {
    await service?.stop();
    await drop?.();
  });

  const transports: [string, () => Transport][] = [
    ["gRPC over h2c", () => createGrpcTransport({ baseUrl: url })],
    ["Connect over HTTP/1.1", () => createConnectTransport({ baseUrl: url, httpVersion: "1.1" })],
    ["Connect over h2c", () => createConnectTransport({ baseUrl: url, httpVersion: "2" })],
    ["gRPC-Web over HTTP/1.1", () => createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" })],
  ];

  it.each(transports)("serves %s on the one port", async (_name, transport) => {
    const client = createClient(AccountService, transport());
    const email = unique();
    const { account } = await client.createAccount({
      name: "Wire",
      email,
      password: "over-the-wire",
    });
    expect(account?.email).toBe(email);
    const login = await client.login({ email, password: "over-the-wire" });
    expect(login.account?.id).toBe(account?.id);
    const error = await rejection(
      client.createAccount({ name: "Wire", email, password: "over-the-wire" }),
    );
    expect(error.code).toBe(Code.AlreadyExists);
  });

  it("logs in the first admin from ADMIN_EMAIL / ADMIN_PASSWORD", async () => {
    const client = createClient(AccountService, createGrpcTransport({ baseUrl: url }));
    const { account } = await client.login({
      email: "boss@example.com",
      password: "boss-password",
    });
    expect(account?.role).toBe(2);
  });

  it("answers a CORS preflight from a localhost origin and refuses another origin", async () => {
    const preflight = (origin: string) =>
      fetch(`${url}/bazaar.account.v1.AccountService/CreateAccount`, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type,connect-protocol-version,authorization",
        },
      });
    const ok = await preflight("http://localhost:5173");
    expect(ok.status).toBe(204);
    expect(ok.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect(ok.headers.get("access-control-allow-methods")).toContain("POST");
    expect(ok.headers.get("access-control-allow-headers")?.toLowerCase()).toContain(
      "connect-protocol-version",
    );
    expect(ok.headers.get("access-control-allow-headers")?.toLowerCase()).toContain(
      "authorization",
    );
    const refused = await preflight("https://evil.example");
    expect(refused.status).toBe(403);
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();
    const call = await fetch(`${url}/bazaar.account.v1.AccountService/Login`, {
      method: "POST",
      headers: { origin: "http://localhost:3000", "content-type": "application/json" },
      body: JSON.stringify({ email: "boss@example.com", password: "boss-password" }),
    });
    expect(call.status).toBe(200);
    expect(call.headers.get("access-control-allow-origin")).toBe("http://localhost:3000");
    expect(call.headers.get("access-control-expose-headers")).toContain("Grpc-Status");
  });

  it("serves reflection to the real buf CLI, v1 and v1alpha, with no --schema", async () => {
    const list = await run(buf, [
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--list-methods",
      url,
    ]);
    expect(list.stdout).toContain("bazaar.account.v1.AccountService/CreateAccount");
    expect(list.stdout).toContain("grpc.health.v1.Health/Check");
    const email = unique();
    for (const protocol of ["grpc-v1", "grpc-v1alpha"]) {
      const created = await run(buf, [
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--reflect-protocol",
        protocol,
        "-d",
        JSON.stringify({ name: "Buf", email: `${protocol}-${email}`, password: "buf-curl-pass" }),
        `${url}/bazaar.account.v1.AccountService/CreateAccount`,
      ]);
      expect(JSON.parse(created.stdout).account.email).toBe(`${protocol}-${email}`);
    }
    // buf curl's Connect protocol over HTTP/1.1 reaches the same port and reflection too.
    const connect = await run(buf, [
      "curl",
      "-d",
      JSON.stringify({ email: "boss@example.com", password: "boss-password" }),
      `${url}/bazaar.account.v1.AccountService/Login`,
    ]);
    expect(JSON.parse(connect.stdout).account.email).toBe("boss@example.com");
  });

  it("says SERVING on grpc.health.v1 and on /healthz and /readyz", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: url }));
    expect((await health.check({ service: "" })).status).toBe(
      HealthCheckResponse_ServingStatus.SERVING,
    );
    expect((await health.check({ service: "bazaar.account.v1.AccountService" })).status).toBe(
      HealthCheckResponse_ServingStatus.SERVING,
    );
    expect((await rejection(health.check({ service: "nope.v1.Nope" }))).code).toBe(Code.NotFound);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready" });
  });

  it("counts calls in /metrics by service, method and code", async () => {
    const client = createClient(
      AccountService,
      createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
    );
    const before = await metric(url, "Login", "Unauthenticated");
    await rejection(client.login({ email: "nobody@example.com", password: "wrong-password" }));
    await rejection(client.login({ email: "nobody2@example.com", password: "wrong-password" }));
    expect(await metric(url, "Login", "Unauthenticated")).toBe(before + 2);
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toContain("rpc_server_handling_seconds_bucket");
    expect(text).toContain("process_cpu_user_seconds_total");
  });

  describe("hostile input", () => {
    const post = (body: string | Uint8Array<ArrayBuffer>, contentType = "application/json") =>
      fetch(`${url}/bazaar.account.v1.AccountService/CreateAccount`, {
        method: "POST",
        headers: { "content-type": contentType },
        body,
      });

    it("refuses a 2 MB name naming the field", async () => {
      const client = createClient(AccountService, createGrpcTransport({ baseUrl: url }));
      const error = await rejection(
        client.createAccount({
          name: "n".repeat(2_000_000),
          email: unique(),
          password: "long-enough",
        }),
      );
      expect(error.code).toBe(Code.InvalidArgument);
      expect(error.rawMessage).toMatch(/name: must be 1 to 100 characters/);
    });

    it("refuses a body over the message size limit", async () => {
      const response = await post(JSON.stringify({ name: "x".repeat(5 * 1024 * 1024) }));
      expect(response.status).toBe(429);
      expect(((await response.json()) as WireError).message).toMatch(
        /larger than configured readMaxBytes/,
      );
    });

    it("refuses invalid UTF-8 in JSON", async () => {
      const bytes = Buffer.concat([
        Buffer.from('{"name":"'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('","email":"u@example.com","password":"12345678"}'),
      ]);
      const response = await post(bytes);
      expect(response.status).toBe(400);
      const body = (await response.json()) as WireError;
      expect(body.code).toBe("invalid_argument");
      expect(body.message).toMatch(/utf-8/i);
    });

    it("refuses invalid UTF-8 in binary protobuf, saying so", async () => {
      // field 1 (name), length 2, bytes FF FE: not UTF-8.
      const response = await post(new Uint8Array([0x0a, 0x02, 0xff, 0xfe]), "application/proto");
      expect(response.ok).toBe(false);
      const body = (await response.json()) as WireError;
      expect(body.message).toMatch(/utf-8/i);
      expect(body.message).not.toMatch(/at .*\.(ts|js):\d+/);
    });

    it.each([
      [
        '{"name":42,"email":"a@example.com","password":"12345678"}',
        /name.*expected string, got 42/,
      ],
      ['{"name":"x","email":["a"],"password":"12345678"}', /email.*expected string/],
      ["{nope", /JSON/],
      ["[1,2,3]", /cannot decode message bazaar.account.v1.CreateAccountRequest from JSON/],
    ])("refuses malformed JSON %s naming the problem", async (body, message) => {
      const response = await post(body);
      expect(response.status).toBe(400);
      const json = (await response.json()) as WireError;
      expect(json.code).toBe("invalid_argument");
      expect(json.message).toMatch(message);
    });

    it("keeps serving after all of it", async () => {
      const client = createClient(
        AccountService,
        createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
      );
      const { account } = await client.createAccount({
        name: "Survivor",
        email: unique(),
        password: "still-here",
      });
      expect(account?.name).toBe("Survivor");
    });

    it("routes a request whose first bytes arrive one at a time", async () => {
      const reply = await rawExchange(url, [
        ..."GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      ]);
      expect(reply).toMatch(/^HTTP\/1.1 200/);
      // The HTTP/2 preface split in two still reaches the http2 server, which answers SETTINGS.
      const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
      const h2 = await rawExchange(
        url,
        ["PRI * HTTP/2.0\r\n", Buffer.concat([Buffer.from("\r\nSM\r\n\r\n"), settings])],
        9,
      );
      expect(h2.charCodeAt(3)).toBe(4);
    });
  });
});

interface WireError {
  code: string;
  message: string;
}

async function metric(url: string, method: string, code: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text
    .split("\n")
    .find(
      (l) =>
        l.startsWith("rpc_server_handled_total{") &&
        l.includes(`grpc_method="${method}"`) &&
        l.includes(`grpc_code="${code}"`),
    );
  return line ? Number(line.split(" ").at(-1)) : 0;
}

/** Writes `pieces` to a raw socket with pauses between them and returns the first bytes read. */
function rawExchange(url: string, pieces: (string | Buffer)[], enough = 12): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), "127.0.0.1");
    let received = Buffer.alloc(0);
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= enough) {
        socket.destroy();
        resolve(received.toString("latin1"));
      }
    });
    socket.on("error", reject);
    socket.on("connect", async () => {
      for (const piece of pieces) {
        socket.write(piece);
        await new Promise((r) => setTimeout(r, 2));
      }
    });
  });
}
