// The HTTP/2 (h2c) client under the gateway's Connect transports when BACKEND_PROTOCOL is
// `connect-h2`: one session per service, each call a stream on it. The calls the gateway sends in
// one turn of the event loop (shared-reads.ts sends a turn's calls together) leave in one socket
// write, and a service's answers come back the same way, where HTTP/1.1 (http-client.ts) writes
// and reads once per call on its own socket: those writes are a fifth of the gateway's profile.
//
// One session per service means one connection: behind a balancer that spreads connections
// (a Kubernetes Service), every call goes to the replica that connection reached, which is why
// HTTP/1.1's pool of sockets stays the default.
//
// Failures map as http-client.ts maps them (connect-node's codes), so retries are unchanged: a
// connection that closes or resets before the answer is ABORTED (ECONNRESET), a refused one
// UNAVAILABLE. A stream the service refused (REFUSED_STREAM, or a session already going away),
// which HTTP/2 guarantees was never processed, is sent once more on a new session.
import http2 from "node:http2";
import { type HttpAnswer, type HttpPost, nodeReason } from "./http-client.js";

export interface Http2Post {
  post: HttpPost;
  close(): void;
}

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

/**
 * A stream the service did not process: safe to send again whatever the call, as a refused
 * connection is (platform/http/retry.ts reads the code).
 */
class Refused extends Error {
  readonly code = "ECONNREFUSED";
}

export function http2Post(): Http2Post {
  const sessions = new Map<string, http2.ClientHttp2Session>();
  const targets = new Map<string, { origin: string; path: string }>();
  const targetOf = (url: string) => {
    let target = targets.get(url);
    if (target === undefined) {
      const parsed = new URL(url);
      if (parsed.protocol !== "http:") throw new Error(`only http: is supported, not ${url}`);
      target = { origin: parsed.origin, path: parsed.pathname + parsed.search };
      targets.set(url, target);
    }
    return target;
  };
  const sessionOf = (origin: string): http2.ClientHttp2Session => {
    const open = sessions.get(origin);
    if (open !== undefined && !open.closed && !open.destroyed) return open;
    const session = http2.connect(origin);
    const forget = () => {
      if (sessions.get(origin) === session) sessions.delete(origin);
    };
    // A session's failure reaches each of its streams; the session itself is only dropped.
    session.on("error", forget);
    session.on("close", forget);
    session.on("goaway", forget);
    // An idle session does not keep the process alive.
    session.unref();
    sessions.set(origin, session);
    return session;
  };

  const attempt = (
    origin: string,
    headers: http2.OutgoingHttpHeaders,
    body: Uint8Array,
    signal: AbortSignal,
  ) =>
    new Promise<HttpAnswer>((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = sessionOf(origin).request(headers, { endStream: false });
      } catch (error) {
        // A session going away takes no new streams.
        const code = (error as { code?: unknown }).code;
        reject(
          code === "ERR_HTTP2_GOAWAY_SESSION" || code === "ERR_HTTP2_INVALID_SESSION"
            ? new Refused(String(code))
            : error,
        );
        return;
      }
      let settled = false;
      let status = 0;
      let answer: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      const fail = (reason: unknown) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        if (!stream.closed) stream.close(NGHTTP2_CANCEL);
        reject(reason);
      };
      function onAbort() {
        fail(signal.reason);
      }
      signal.addEventListener("abort", onAbort);
      stream.on("response", (h) => {
        status = Number(h[":status"] ?? 0);
        answer = h;
      });
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", (error: Error & { code?: string }) => {
        if (stream.rstCode === NGHTTP2_REFUSED_STREAM) fail(new Refused(error.message));
        else fail(error);
      });
      stream.on("close", () => {
        if (settled) return;
        if (stream.rstCode === NGHTTP2_REFUSED_STREAM) {
          fail(new Refused("the service refused the stream"));
          return;
        }
        if (stream.rstCode !== NGHTTP2_NO_ERROR || status === 0 || !stream.readableEnded) {
          // The connection closed, or the stream was reset, before the whole answer came.
          fail(
            Object.assign(new Error(`socket hang up (stream reset: ${stream.rstCode})`), {
              code: "ECONNRESET",
            }),
          );
          return;
        }
        settled = true;
        signal.removeEventListener("abort", onAbort);
        const whole = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        resolve({
          status,
          header: answer,
          body: new Uint8Array(whole.buffer, whole.byteOffset, whole.length),
        });
      });
      stream.end(body);
    });

  const post: HttpPost = async (url, header, body, signal) => {
    if (signal.aborted) throw nodeReason(signal.reason);
    const { origin, path } = targetOf(url);
    const headers: http2.OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": path,
      "content-length": body.byteLength,
    };
    header.forEach((value, key) => {
      headers[key] = value;
    });
    try {
      return await attempt(origin, headers, body, signal);
    } catch (error) {
      if (!(error instanceof Refused) || signal.aborted) throw nodeReason(error);
      try {
        return await attempt(origin, headers, body, signal);
      } catch (again) {
        throw nodeReason(again);
      }
    }
  };
  return {
    post,
    close: () => {
      for (const session of sessions.values()) session.close();
      sessions.clear();
    },
  };
}
