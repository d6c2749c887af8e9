// A request connect-es cannot decode is the client's fault: INVALID_ARGUMENT, never INTERNAL;
// and an error message that echoes a client's malformed string can still be sent.
//
// connect-es reads, decompresses and parses the request before any interceptor runs, and calls
// what it cannot parse ("parse binary: premature EOF", an illegal tag, invalid UTF-8, a body
// that does not decompress) INTERNAL. Every protocol handler hands the error to the call's
// abort signal before it writes the status, so a request gate (which runs first and sees that
// signal) re-labels an INTERNAL error raised before our interceptors were reached. Connect GET's
// `base64=1` message fails as a plain Error, which cannot be re-labelled: the gate checks it.

import { base64Decode } from "@bufbuild/protobuf/wire";
import type { Interceptor } from "@connectrpc/connect";
import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { RpcMetrics } from "../observability/metrics.js";

interface CallProgress {
  /** Set once the call reaches our interceptors, i.e. its request was decoded. */
  decoded: boolean;
}

const kProgress = createContextKey<CallProgress | undefined>(undefined, {
  description: "call progress",
});

/** The router's `requestGate`: tracks the call and re-labels decoding failures. */
export function decodingFailureGate(metrics: RpcMetrics): (ctx: HandlerContext) => void {
  return (ctx) => {
    const progress: CallProgress = { decoded: false };
    ctx.values.set(kProgress, progress);
    ctx.signal.addEventListener(
      "abort",
      () => {
        const reason: unknown = ctx.signal.reason;
        if (!(reason instanceof ConnectError)) return;
        wellFormed(reason);
        if (progress.decoded) return;
        if (reason.code === Code.Internal) {
          // The error object is the one the protocol handler serializes next.
          (reason as { code: Code }).code = Code.InvalidArgument;
        }
        // Our interceptors never saw this call: count it here, so /metrics shows it.
        metrics.handled.inc({
          grpc_service: ctx.service.typeName,
          grpc_method: ctx.method.name,
          grpc_code: Code[reason.code],
        });
      },
      { once: true },
    );
    if (ctx.requestMethod === "GET") checkGetMessage(ctx.url);
  };
}

/**
 * gRPC and gRPC-Web percent-encode the message (grpc-message), and encodeURIComponent throws on
 * a lone surrogate, which a message echoing the client's own string may hold (connect-es's
 * "cannot decode field … from JSON: "\ud800""): the answer would then never be finished and the
 * call would hang. Such a surrogate becomes U+FFFD, as a UTF-8 decoder makes it.
 */
function wellFormed(error: ConnectError): void {
  const message = error.rawMessage as string & {
    isWellFormed(): boolean;
    toWellFormed(): string;
  };
  if (!message.isWellFormed())
    (error as { rawMessage: string }).rawMessage = message.toWellFormed();
}

function checkGetMessage(url: string): void {
  const params = new URL(url).searchParams;
  if (params.get("base64") !== "1") return;
  try {
    base64Decode(params.get("message") ?? "");
  } catch {
    throw new ConnectError("the message query parameter is not valid base64", Code.InvalidArgument);
  }
}

/**
 * The outermost interceptor: marks the call decoded. A streaming call's messages are decoded
 * while the handler reads them, so a failure there is re-labelled on the way out of the stream.
 */
export function decodedInterceptor(): Interceptor {
  return (next) => async (req) => {
    const progress = req.contextValues.get(kProgress);
    if (progress) progress.decoded = true;
    if (!req.stream) return next(req);
    return next({ ...req, message: clientFaultOnFailure(req.message) });
  };
}

async function* clientFaultOnFailure<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (error) {
    const connectError = ConnectError.from(error);
    if (connectError.code !== Code.Internal && connectError.code !== Code.Unknown) throw error;
    throw new ConnectError(connectError.rawMessage, Code.InvalidArgument);
  }
}
