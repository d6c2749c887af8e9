// The HTTP/1.1 client under the gateway's Connect transports: connect-node's sends each call in
// three socket writes (the headers as soon as a socket is free, then the body, then the chunked
// encoding's last chunk), each a syscall here and a read and parser wake-up in the service; on
// the products query those writes were ~10% of the gateway's CPU. This one sends a unary call's
// headers and body, with its Content-Length, in one write, and hands the answer back whole.
// Failures map as connect-node maps them, so codes and retries are unchanged.
import http from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  createAsyncIterable,
  getAbortSignalReason,
  type UniversalClientFn,
  type UniversalClientResponse,
} from "@connectrpc/connect/protocol";

interface Target {
  hostname: string;
  port: string;
  path: string;
}

export function http1Client(agent: http.Agent): UniversalClientFn {
  // One entry per method URL: the URL is parsed once, not on every call.
  const targets = new Map<string, Target>();
  const targetOf = (url: string): Target => {
    let target = targets.get(url);
    if (target === undefined) {
      const parsed = new URL(url);
      if (parsed.protocol !== "http:") throw new Error(`only http: is supported, not ${url}`);
      target = {
        hostname: parsed.hostname.replace(/^\[|\]$/g, ""),
        port: parsed.port || "80",
        path: parsed.pathname + parsed.search,
      };
      targets.set(url, target);
    }
    return target;
  };

  return async (req) => {
    const body = req.body === undefined ? new Uint8Array(0) : await readAll(req.body);
    const { signal } = req;
    if (signal?.aborted) throw nodeReason(getAbortSignalReason(signal));
    const headers: Record<string, string> = {};
    req.header.forEach((value, key) => {
      headers[key] = value;
    });
    headers["content-length"] = String(body.byteLength);
    const { hostname, port, path } = targetOf(req.url);

    return new Promise<UniversalClientResponse>((resolve, reject) => {
      const request = http.request({ agent, hostname, port, path, method: req.method, headers });
      let settled = false;
      const fail = (reason: unknown) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        request.destroy();
        reject(nodeReason(reason));
      };
      function onAbort() {
        fail(getAbortSignalReason(signal as AbortSignal));
      }
      signal?.addEventListener("abort", onAbort);
      request.on("error", fail);
      request.on("response", (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", fail);
        response.on("close", () => {
          if (!response.complete) fail(Object.assign(new Error("aborted"), { code: "ECONNRESET" }));
        });
        response.on("end", () => {
          if (settled) return;
          settled = true;
          signal?.removeEventListener("abort", onAbort);
          const header = new Headers();
          for (const [key, value] of Object.entries(response.headers)) {
            if (Array.isArray(value)) for (const one of value) header.append(key, one);
            else if (value !== undefined) header.set(key, value);
          }
          const whole = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
          resolve({
            status: response.statusCode ?? 0,
            header,
            body: createAsyncIterable([
              new Uint8Array(whole.buffer, whole.byteOffset, whole.length),
            ]),
            trailer: new Headers(),
          });
        });
      });
      request.end(body);
    });
  };
}

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks);
}

/**
 * A ConnectError for what failed, coded as connect-node codes it: a reset connection ABORTED, a
 * refused or unreachable one UNAVAILABLE, anything else INTERNAL; the Node error is the cause.
 */
function nodeReason(reason: unknown): ConnectError {
  if (reason instanceof ConnectError) return reason;
  const codes = new Set<string>();
  for (let layer = reason, depth = 0; layer instanceof Error && depth < 8; depth++) {
    const code = (layer as { code?: unknown }).code;
    if (typeof code === "string") codes.add(code);
    layer = layer.cause;
  }
  let code = Code.Internal;
  if (codes.has("ERR_STREAM_WRITE_AFTER_END")) code = Code.Aborted;
  else if (codes.has("ECONNRESET") || codes.has("ERR_STREAM_DESTROYED")) code = Code.Aborted;
  else if (["ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED"].some((c) => codes.has(c)))
    code = Code.Unavailable;
  const error = ConnectError.from(reason, code);
  if (error !== reason) error.cause = reason;
  return error;
}
