// Test support: real databases only. Every test file gets a fresh database on one PostgreSQL
// server: the embedded one vitest's global setup starts for the run, or TEST_DATABASE_URL's.
// Over 300 lines on purpose: test support only, small helpers every suite shares.
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import http2 from "node:http2";
import net from "node:net";
import {
  ConnectError,
  type ConnectRouter,
  createRouterTransport,
  type Transport,
} from "@connectrpc/connect";
import { authInterceptor, type TokenAuthority } from "./auth/auth.js";
import { TestAuthority } from "./auth/auth-testing.js";
import { type DatabaseHandle, type DatabaseOptions, openDatabase } from "./data/database.js";
import { openSql } from "./data/postgres-connection.js";
import { observeInterceptor, requestIdInterceptor } from "./http/interceptors.js";
import { createLogger } from "./observability/logger.js";
import { createMetrics } from "./observability/metrics.js";

/**
 * A new, empty database on the test server, and a way to drop it. The server is
 * TEST_DATABASE_URL's, which vitest's global setup (scripts/test-database.ts) sets to its
 * embedded server when the environment does not.
 */
export async function createScratchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) throw new Error("TEST_DATABASE_URL is not set (run the tests with vitest)");
  const name = `bazaar_test_${randomBytes(6).toString("hex")}`;
  const admin = openSql(base, { max: 1 });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const dropper = openSql(base, { max: 1 });
      try {
        await dropper.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

/** A migrated database for one test file; `close()` also drops it. */
export async function openTestDatabase<S extends Record<string, unknown>>(
  options: Omit<DatabaseOptions<S>, "url">,
): Promise<DatabaseHandle<S>> {
  const scratch = await createScratchDatabase();
  const handle = await openDatabase({ ...options, url: scratch.url, poolMax: 20 });
  return {
    ...handle,
    close: async () => {
      await handle.close();
      await scratch.drop();
    },
  };
}

/** The connection settings a service under test reads instead of process.env. */
export async function testDatabaseEnv(): Promise<{
  env: Record<string, string>;
  drop(): Promise<void>;
}> {
  const scratch = await createScratchDatabase();
  return { env: { DATABASE_URL: scratch.url }, drop: scratch.drop };
}

/** Keys for every service, shared by a test file's services and clients. */
export function testAuthority(): { authority: TestAuthority } {
  return { authority: new TestAuthority() };
}

/**
 * An in-memory Connect transport to `routes` with the same interceptors a real server runs
 * (request id, logging, metrics, authentication), so handlers see real callers.
 */
export function routerTransport(
  routes: (router: ConnectRouter) => void,
  authority: TokenAuthority,
): Transport {
  return createRouterTransport(routes, {
    router: {
      interceptors: [
        requestIdInterceptor(),
        observeInterceptor(
          createLogger({
            service: "test",
            level: process.env.TEST_LOG_LEVEL ?? "silent",
            pretty: false,
          }),
          createMetrics("test"),
        ),
        authInterceptor(authority),
      ],
    },
  });
}

/** Call options carrying `Authorization: Bearer <token>`. */
export function bearer(token: string): { headers: Record<string, string> } {
  return { headers: { authorization: `Bearer ${token}` } };
}

/** The ConnectError a call fails with; fails the test when the call succeeds. */
export async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/**
 * A TCP port free on 127.0.0.1 right now, for processes that must be told their port. Chosen at
 * random below Linux's ephemeral range (32768–60999), never twice by one process: a port the
 * kernel hands out for `listen(0)` comes from the range every outgoing connection's local port
 * comes from too, so between this answer and the process binding it, one of the tests' many
 * client sockets could take it (CI failed so, "port … already in use"), or another test worker
 * be handed it as well.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (handedOut.has(port)) continue;
    const server = net.createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (!bound) continue;
    await new Promise((resolve) => server.close(resolve));
    // Long since bound or given up by now: forget them rather than run out of ports to try.
    if (handedOut.size >= 6_000) handedOut.clear();
    handedOut.add(port);
    return port;
  }
}

const handedOut = new Set<number>();

/** A running process, and what it has written so far: stdout and stderr interleaved. */
export interface Gathered {
  child: ChildProcess;
  readonly output: string;
}

/** Starts `command`, gathering what it writes. */
export function spawnGathering(
  command: string,
  args: readonly string[],
  options: Omit<SpawnOptions, "stdio"> = {},
): Gathered {
  const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const gather = (chunk: Buffer) => {
    output += chunk;
  };
  child.stdout?.on("data", gather);
  child.stderr?.on("data", gather);
  return {
    child,
    get output() {
      return output;
    },
  };
}

/**
 * Waits until `text` shows in what `process` wrote; fails with all it wrote when it exits first
 * or after `timeoutMs` (`npm start`'s banner, say).
 */
export async function waitForOutput(
  process: Gathered,
  text: string,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!process.output.includes(text)) {
    const exited = process.child.exitCode !== null || process.child.signalCode !== null;
    if (exited || Date.now() > deadline) {
      const why = exited ? "it exited" : `${timeoutMs} ms passed`;
      throw new Error(`${why} before "${text}" showed; it wrote:\n${process.output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs `command` to its end; its exit code and what it wrote, stdout and stderr interleaved. */
export function runToExit(
  command: string,
  args: readonly string[],
  options: Omit<SpawnOptions, "stdio"> = {},
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const gathered = spawnGathering(command, args, options);
    gathered.child.once("error", reject);
    gathered.child.once("exit", (code) => resolve({ code, output: gathered.output }));
  });
}

/**
 * Asks `check` every `intervalMs` until it says yes; after `timeoutMs`, fails saying what never
 * happened. An error thrown by `check` ends the wait (a process that died will not get ready).
 */
export async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  { timeoutMs = 60_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Whether a GET of `url` answers 2xx; false while nothing listens there. */
export function answersOk(url: string): Promise<boolean> {
  return fetch(url).then(
    (res) => res.ok,
    () => false,
  );
}

/** What a gRPC call answered: the HTTP status, then grpc-status and grpc-message (decoded). */
export interface GrpcAnswer {
  httpStatus: number;
  status: string | undefined;
  message: string | undefined;
}

/**
 * One gRPC call of raw, already framed bytes on `session`, for tests that must send what no
 * client would; fails when nothing answers within `timeoutMs`. A server stream (`streaming`)
 * may never end: its first whole message is then the answer (status "0"), and the call is
 * cancelled.
 */
export function grpcExchange(
  session: http2.ClientHttp2Session,
  path: string,
  body: Uint8Array,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
  streaming = false,
): Promise<GrpcAnswer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc+proto",
      te: "trailers",
      ...headers,
    });
    const timer = setTimeout(() => {
      stream.close();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const answer: GrpcAnswer = { httpStatus: 0, status: undefined, message: undefined };
    const note = (h: http2.IncomingHttpHeaders) => {
      if (h[":status"] !== undefined) answer.httpStatus = Number(h[":status"]);
      if (h["grpc-status"] !== undefined) answer.status ??= String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined)
        answer.message ??= percentDecoded(String(h["grpc-message"]));
    };
    stream.on("response", note);
    stream.on("trailers", note);
    let received = Buffer.alloc(0);
    stream.on("data", (chunk: Buffer) => {
      if (!streaming || answer.status !== undefined) return;
      received = Buffer.concat([received, chunk]);
      // A frame: 1 flag byte, a 4-byte big-endian length, the message.
      if (received.length >= 5 && received.length >= 5 + received.readUInt32BE(1)) {
        answer.status = "0";
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }
    });
    stream.on("error", (error) => {
      clearTimeout(timer);
      // Cancelling a stream that had answered is not a failure of the call.
      if (streaming && answer.status === "0") resolve(answer);
      else reject(error);
    });
    stream.on("close", () => {
      clearTimeout(timer);
      resolve(answer);
    });
    stream.end(body);
  });
}

/** grpc-message is percent-encoded; a server that encodes it wrongly is shown as it sent it. */
function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** What one HTTP/1.1 keep-alive connection answered to a request, then to a second one on it. */
export interface KeepAliveAnswer {
  /** The first answer, head and body, as latin1 text; what came before a close if incomplete. */
  first: string;
  /** The second answer's status, "closed" if the server closed the connection instead. */
  second: number | "closed" | "no answer";
  /** From sending the second request to its answer (or the close). */
  secondMs: number;
}

/**
 * Sends `request` (raw HTTP/1.1 bytes) on a new connection, waits for its whole answer, then
 * sends `second` on the same connection: for tests of what a connection is left fit for.
 */
export function keepAliveExchange(
  port: number,
  request: Uint8Array,
  second = "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n",
  timeoutMs = 10_000,
): Promise<KeepAliveAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(request));
    let received = Buffer.alloc(0);
    let first: string | undefined;
    let sentAt = 0;
    const timer = setTimeout(() => finish("no answer"), timeoutMs);
    const finish = (second: KeepAliveAnswer["second"]) => {
      clearTimeout(timer);
      socket.destroy();
      if (first === undefined && second !== "closed") {
        reject(new Error(`no complete first answer within ${timeoutMs} ms`));
        return;
      }
      resolve({
        first: first ?? received.toString("latin1"),
        second: first === undefined ? "closed" : second,
        secondMs: sentAt ? performance.now() - sentAt : 0,
      });
    };
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (first === undefined) {
        const end = http1AnswerEnd(received);
        if (end === undefined) return;
        first = received.subarray(0, end).toString("latin1");
        received = received.subarray(end);
        sentAt = performance.now();
        socket.write(second, () => {});
      }
      const status = /^HTTP\/1\.1 (\d{3})/.exec(received.toString("latin1"));
      if (status) finish(Number(status[1]));
    });
    // A reset, or a write to a connection the server closed: refused, as a close is.
    socket.on("error", () => finish("closed"));
    socket.on("close", () => finish("closed"));
  });
}

/** Where the first HTTP/1.1 answer in `bytes` ends (Content-Length or chunked), if it has. */
function http1AnswerEnd(bytes: Buffer): number | undefined {
  const headEnd = bytes.indexOf("\r\n\r\n");
  if (headEnd === -1) return undefined;
  const head = bytes.subarray(0, headEnd).toString("latin1");
  let at = headEnd + 4;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (!/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    const end = at + Number(length?.[1] ?? 0);
    return bytes.length >= end ? end : undefined;
  }
  for (;;) {
    const lineEnd = bytes.indexOf("\r\n", at);
    if (lineEnd === -1) return undefined;
    const size = Number.parseInt(bytes.subarray(at, lineEnd).toString("latin1"), 16);
    if (size === 0) {
      // The last chunk, then trailers (gRPC's, over HTTP/1.1) up to an empty line.
      const trailersEnd = bytes.indexOf("\r\n\r\n", lineEnd);
      return trailersEnd === -1 ? undefined : trailersEnd + 4;
    }
    at = lineEnd + 2 + size + 2;
    if (bytes.length < at) return undefined;
  }
}
