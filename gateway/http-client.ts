// The HTTP/1.1 client under the gateway's Connect transports: connect-node's sends each call in
// three socket writes (the headers as soon as a socket is free, then the body, then the chunked
// encoding's last chunk), each a syscall here and a read and parser wake-up in the service; on
// the products query those writes were ~10% of the gateway's CPU. This one sends a unary call's
// headers and body, with its Content-Length, in one write, and hands the answer back whole, to
// the transport of connect-transport.ts. Failures map as connect-node maps them, so codes and
// retries are unchanged.
import http from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import { causes } from "../platform/errors.js";

interface Target {
  hostname: string;
  port: string;
  path: string;
}

/** Response headers as Node hands them over (HTTP/2's pseudo-headers included). */
export type RawHeaders = Record<string, string | string[] | number | undefined>;

export interface HttpAnswer {
  status: number;
  /** Made into a Headers only when someone reads them (headersOf): most calls never do. */
  header: RawHeaders;
  body: Uint8Array;
}

/** The answer's headers as a Headers, without HTTP/2's pseudo-headers. */
export function headersOf(raw: RawHeaders): Headers {
  const header = new Headers();
  for (const key in raw) {
    if (key.startsWith(":")) continue;
    const value = raw[key];
    if (Array.isArray(value)) for (const one of value) header.append(key, one);
    else if (value !== undefined) header.set(key, String(value));
  }
  return header;
}

/** POSTs `body` to `url`; fails with a ConnectError when the call fails or `signal` fires. */
export type HttpPost = (
  url: string,
  header: Headers,
  body: Uint8Array,
  signal: AbortSignal,
) => Promise<HttpAnswer>;

export function http1Post(agent: http.Agent): HttpPost {
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

  return (url, header, body, signal) => {
    if (signal.aborted) return Promise.reject(nodeReason(signal.reason));
    const headers: Record<string, string> = {};
    header.forEach((value, key) => {
      headers[key] = value;
    });
    headers["content-length"] = String(body.byteLength);
    const { hostname, port, path } = targetOf(url);

    return new Promise<HttpAnswer>((resolve, reject) => {
      const request = http.request({ agent, hostname, port, path, method: "POST", headers });
      let settled = false;
      const fail = (reason: unknown) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        request.destroy();
        reject(nodeReason(reason));
      };
      function onAbort() {
        fail(signal.reason);
      }
      signal.addEventListener("abort", onAbort);
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
          signal.removeEventListener("abort", onAbort);
          const whole = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
          resolve({
            status: response.statusCode ?? 0,
            header: response.headers,
            body: new Uint8Array(whole.buffer, whole.byteOffset, whole.length),
          });
        });
      });
      // Headers and body leave in one write once the agent hands over a socket.
      request.end(body);
    });
  };
}

/**
 * A ConnectError for what failed, coded as connect-node codes it: a reset connection ABORTED, a
 * refused or unreachable one UNAVAILABLE, anything else INTERNAL; the Node error is the cause.
 */
export function nodeReason(reason: unknown): ConnectError {
  if (reason instanceof ConnectError) return reason;
  const codes = new Set<string>();
  for (const layer of causes(reason)) {
    const code = (layer as { code?: unknown }).code;
    if (typeof code === "string") codes.add(code);
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
