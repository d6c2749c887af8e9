// The gateway's Connect transport for unary calls over HTTP/1.1 (binary protobuf, no
// compression): connect-es's own protocol pieces (request headers, response validation, error
// bodies, the interceptor contract), without the per-call machinery its generic transport
// spends on streams. On the products query that machinery — an async iterable for each body,
// two linked abort controllers per call and an AbortError made when each call ends, the
// interceptor chain rebuilt per call — was ~12% of the gateway's CPU. The deadline is kept: each
// call's signal aborts when its timeout passes, and a caller's signal still cancels it.
import { create, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  appendHeaders,
  Code,
  ConnectError,
  createContextValues,
  type Interceptor,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { createMethodUrl } from "@connectrpc/connect/protocol";
import {
  errorFromJsonBytes,
  requestHeader,
  trailerDemux,
  validateResponseWithCompression,
} from "@connectrpc/connect/protocol-connect";
import { type HttpPost, headersOf, type RawHeaders } from "./http-client.js";

export interface UnaryTransportOptions {
  baseUrl: string;
  post: HttpPost;
  interceptors: Interceptor[];
}

/**
 * Messages already encoded by whoever handed them to the transport (shared-reads.ts encodes
 * each read to compare it): sent as they are rather than encoded again. Messages are never
 * changed once made, so their bytes cannot go stale.
 */
const encodings = new WeakMap<object, Uint8Array>();

export function rememberEncoding(message: object, bytes: Uint8Array): void {
  encodings.set(message, bytes);
}

export function createUnaryConnectTransport(options: UnaryTransportOptions): Transport {
  const { baseUrl, post } = options;
  const urls = new Map<string, string>();

  // The last step of every call: serialise, send, read the answer or the error it carries.
  const send = async (req: UnaryRequest): Promise<UnaryResponse> => {
    const { method } = req;
    const body = encodings.get(req.message) ?? toBinary(method.input, req.message);
    const answer = await post(req.url, req.header, body, req.signal);
    if (answer.status === 200 && plainAnswer(answer.header)) {
      // What connect-es would accept without a word: decoded, its headers made only if read.
      return new Answered(method, answer.header, fromBinary(method.output, answer.body));
    }
    const all = headersOf(answer.header);
    // No compression accepted: an encoded answer is refused as connect-es refuses it.
    const validated = validateResponseWithCompression(
      method.methodKind,
      [],
      true,
      answer.status,
      all,
    );
    const [header, trailer] = trailerDemux(all);
    if (validated.isUnaryError) {
      throw errorFromJsonBytes(answer.body, appendHeaders(header, trailer), validated.unaryError);
    }
    return {
      stream: false,
      service: method.parent,
      method,
      header,
      message: fromBinary(method.output, answer.body),
      trailer,
    } as UnaryResponse;
  };
  // Interceptors wrap the last step once, not on every call.
  const chain = options.interceptors.reduceRight(
    (next, interceptor) => interceptor(next as never) as typeof send,
    send,
  );

  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: Parameters<Transport["unary"]>[0],
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: Parameters<Transport["unary"]>[4],
      contextValues?: Parameters<Transport["unary"]>[5],
    ): Promise<UnaryResponse<I, O>> {
      const timeout = timeoutMs !== undefined && timeoutMs <= 0 ? undefined : timeoutMs;
      let url = urls.get(method.name);
      if (url === undefined) {
        url = createMethodUrl(baseUrl, method);
        urls.set(method.name, url);
      }
      const deadline = callSignal(signal, timeout);
      try {
        const res = await chain({
          stream: false,
          service: method.parent,
          method,
          requestMethod: "POST",
          url,
          header: requestHeader(method.methodKind, true, timeout, header, true),
          contextValues: contextValues ?? createContextValues(),
          message: create(method.input, input),
          signal: deadline.signal,
        } as UnaryRequest);
        return res as UnaryResponse<I, O>;
      } catch (error) {
        // As connect-es reports it: a call whose signal fired fails with the signal's reason
        // (DEADLINE_EXCEEDED for the timeout), anything else as the ConnectError it is.
        throw deadline.signal.aborted
          ? ConnectError.from(deadline.signal.reason, Code.Canceled)
          : ConnectError.from(error);
      } finally {
        deadline.done();
      }
    },
    stream() {
      // No RPC of ours streams; a streaming one would need connect-node's transport.
      return Promise.reject(
        new ConnectError("streaming calls are not supported by this transport", Code.Unimplemented),
      );
    },
  };
}

/**
 * An answer connect-es's checks pass as they are: binary, not compressed, no trailers (those
 * come as `trailer-` headers). Anything else goes through connect-es's own validation.
 */
function plainAnswer(raw: RawHeaders): boolean {
  if (raw["content-type"] !== "application/proto") return false;
  const encoding = raw["content-encoding"];
  if (encoding !== undefined && String(encoding).toLowerCase() !== "identity") return false;
  for (const key in raw) if (key.startsWith("trailer-")) return false;
  return true;
}

/**
 * A successful unary answer whose headers become a Headers only when read (an interceptor, or a
 * caller's onHeader): building them, then splitting off the trailers into two more, was per call
 * work that nothing on the gateway's path reads.
 */
class Answered {
  readonly stream = false;
  readonly service: UnaryResponse["service"];
  #header: Headers | undefined;
  #trailer: Headers | undefined;

  constructor(
    readonly method: UnaryRequest["method"],
    private readonly raw: RawHeaders,
    readonly message: UnaryResponse["message"],
  ) {
    this.service = method.parent;
  }

  get header(): Headers {
    this.#header ??= headersOf(this.raw);
    return this.#header;
  }

  get trailer(): Headers {
    this.#trailer ??= new Headers();
    return this.#trailer;
  }
}

/** A call's signal: aborted by the caller's signal or when `timeoutMs` has passed. */
function callSignal(
  caller: AbortSignal | undefined,
  timeoutMs: number | undefined,
): { signal: AbortSignal; done(): void } {
  const controller = new AbortController();
  const onCallerAbort = () => controller.abort(caller?.reason);
  if (caller?.aborted) onCallerAbort();
  else caller?.addEventListener("abort", onCallerAbort);
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(
          () =>
            controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)),
          timeoutMs,
        );
  return {
    signal: controller.signal,
    done() {
      clearTimeout(timer);
      caller?.removeEventListener("abort", onCallerAbort);
    },
  };
}
