// Limits that keep one client from holding a server's connections, streams and memory.
import type http2 from "node:http2";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

export interface ConnectionLimits {
  /** Open TCP connections per process; more are closed as they arrive. */
  maxConnections: number;
  /** Concurrent HTTP/2 streams per connection, advertised in the server's SETTINGS. */
  maxStreamsPerConnection: number;
  /** Open streaming calls (health Watch, reflection) per process, over every connection. */
  maxOpenStreams: number;
  /** An HTTP/2 connection that opens no stream this long after its preface is closed. */
  http2FirstStreamMs: number;
  /** An HTTP/2 connection with no stream open for this long is closed (GOAWAY). */
  http2IdleMs: number;
}

export const defaultConnectionLimits: ConnectionLimits = {
  maxConnections: 4_096,
  maxStreamsPerConnection: 100,
  maxOpenStreams: 256,
  http2FirstStreamMs: 10_000,
  // Longer: a client between calls keeps its connection warm, and each GOAWAY costs it one.
  http2IdleMs: 120_000,
};

/**
 * Refuses a streaming call with RESOURCE_EXHAUSTED while `max` are open. Streams live as long
 * as the client likes (a Watch never ends by itself), so they are counted until their response
 * is finished or abandoned.
 */
export function openStreamsInterceptor(max: number): Interceptor {
  let open = 0;
  return (next) => async (req) => {
    if (!req.stream) return next(req);
    if (open >= max) {
      throw new ConnectError(
        `this server already serves ${max} open streams; retry later`,
        Code.ResourceExhausted,
      );
    }
    open++;
    let counted = true;
    const release = () => {
      if (counted) open--;
      counted = false;
    };
    try {
      const res = await next(req);
      if (!res.stream) {
        release();
        return res;
      }
      return { ...res, message: releasedAfter(res.message, release) };
    } catch (error) {
      release();
      throw error;
    }
  };
}

async function* releasedAfter<T>(messages: AsyncIterable<T>, release: () => void) {
  try {
    yield* messages;
  } finally {
    release();
  }
}

/** Closes `session` when it opens no stream in time, or has none open for a while. */
export function closeWhenIdle(
  session: http2.ServerHttp2Session,
  limits: Pick<ConnectionLimits, "http2FirstStreamMs" | "http2IdleMs">,
): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = (ms: number) => {
    timer = setTimeout(() => session.close(), ms);
    timer.unref();
  };
  arm(limits.http2FirstStreamMs);
  session.on("stream", (stream) => {
    open++;
    clearTimeout(timer);
    stream.once("close", () => {
      open--;
      if (open === 0 && !session.closed && !session.destroyed) arm(limits.http2IdleMs);
    });
  });
  session.once("close", () => clearTimeout(timer));
}
