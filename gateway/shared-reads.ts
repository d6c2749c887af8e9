// Identical reads asked for in the same turn of the event loop share one backend call. Under
// load, many GraphQL requests read the same thing at once (the first page of products, the same
// products by id): each used to make its own call, and each service did the same work again.
//
// Only reads (NO_SIDE_EFFECTS in the protos) are shared, and only between callers that send the
// same request with the same credentials: the same method, the same message bytes and the same
// headers, but for those that say whom the call is for (the request id, the trace context, the
// client's address). The call carries the first caller's. A call is shared only before it is sent, so every caller's answer
// was read after that caller asked (the catalog shares its identical page reads the same way):
// a client that wrote and then reads never gets an answer older than its write.
//
// Each caller keeps its own deadline and cancellation: the shared call runs until the latest of
// its callers' deadlines and is cancelled when every caller has given up; a caller whose own
// deadline passes first fails alone, as its own call would have. The answer's message is shared,
// so it is read, never changed, by those who get it (the resolvers only read).
import { create, type DescMessage, toBinary } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Transport, type UnaryResponse } from "@connectrpc/connect";
import { rememberEncoding } from "./connect-transport.js";

type Unary = Transport["unary"];
type Method = Parameters<Unary>[0];

/**
 * Headers that say whom a call is for rather than what it asks: not part of what is shared. The
 * client's address counts only for the account service's limits on sign-ups and password
 * guesses, which are writes; no read answers differently for it.
 */
const perCaller = new Set([
  "x-request-id",
  "x-forwarded-for",
  "traceparent",
  "tracestate",
  "baggage",
]);

interface Caller {
  resolve(response: UnaryResponse): void;
  reject(error: unknown): void;
  signal: AbortSignal | undefined;
  /** When this caller stops waiting (ms since the epoch); undefined: never. */
  deadline: number | undefined;
}

interface Call {
  method: Method;
  header: HeadersInit | undefined;
  input: Parameters<Unary>[4];
  contextValues: Parameters<Unary>[5];
  callers: Caller[];
}

export function shareIdenticalReads(transport: Transport): Transport {
  let pending = new Map<string, Call>();
  let scheduled = false;

  const flush = () => {
    scheduled = false;
    const calls = pending;
    pending = new Map();
    for (const call of calls.values()) send(transport, call);
  };

  return {
    unary<I extends DescMessage, O extends DescMessage>(
      method: Method,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: Parameters<Unary>[4],
      contextValues?: Parameters<Unary>[5],
    ): Promise<UnaryResponse<I, O>> {
      if (
        method.idempotency !== MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS ||
        signal?.aborted
      ) {
        return transport.unary(method, signal, timeoutMs, header, input, contextValues) as Promise<
          UnaryResponse<I, O>
        >;
      }
      const message = create(method.input, input);
      const bytes = toBinary(method.input, message);
      // The transport sends these bytes rather than encoding the message a second time.
      rememberEncoding(message, bytes);
      const key = callKey(method, header, bytes);
      const deadline =
        timeoutMs === undefined || timeoutMs <= 0 ? undefined : Date.now() + timeoutMs;
      return new Promise<UnaryResponse<I, O>>((resolve, reject) => {
        const caller: Caller = { resolve: resolve as Caller["resolve"], reject, signal, deadline };
        const call = pending.get(key);
        if (call) call.callers.push(caller);
        else pending.set(key, { method, header, input: message, contextValues, callers: [caller] });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    stream: (...args) => transport.stream(...args),
  };
}

function callKey(method: Method, header: HeadersInit | undefined, body: Uint8Array): string {
  let key = `${method.parent.typeName}/${method.name}\n`;
  // The gateway's calls carry a plain record (context.ts): read it as it is, sorted so that the
  // same headers in another order make the same key; anything else through Headers.
  const entries =
    header === undefined
      ? []
      : header instanceof Headers || Array.isArray(header)
        ? [...new Headers(header)]
        : Object.entries(header).map(([name, value]) => [name.toLowerCase(), value] as const);
  if (entries.length > 1) entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [name, value] of entries) if (!perCaller.has(name)) key += `${name}:${value}\n`;
  // latin1: one character per byte, cheaper than base64 and as exact.
  return key + Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("latin1");
}

/** One call for all of `call`'s callers: each gets its answer, or its own error. */
function send(transport: Transport, call: Call): void {
  const { method, header, input, contextValues, callers } = call;
  const now = Date.now();
  const [only] = callers;
  if (callers.length === 1 && only) {
    const timeoutMs = only.deadline === undefined ? undefined : Math.max(1, only.deadline - now);
    transport
      .unary(method, only.signal, timeoutMs, header, input, contextValues)
      .then(only.resolve, only.reject);
    return;
  }
  const controller = new AbortController();
  let waiting = callers.length;
  const latest = callers.some((caller) => caller.deadline === undefined)
    ? undefined
    : Math.max(...callers.map((caller) => caller.deadline as number));
  // Each caller stops waiting on its own: when its signal fires or its deadline passes.
  const cleanups = callers.map((caller) => {
    let settled = false;
    const giveUp = (error: unknown) => {
      if (settled) return;
      settled = true;
      caller.reject(error);
      if (--waiting === 0) controller.abort(error);
    };
    const onAbort = () => giveUp(ConnectError.from(caller.signal?.reason, Code.Canceled));
    if (caller.signal?.aborted) onAbort();
    else caller.signal?.addEventListener("abort", onAbort);
    const timer =
      caller.deadline !== undefined && caller.deadline < (latest ?? Number.POSITIVE_INFINITY)
        ? setTimeout(
            () => giveUp(new ConnectError("the operation timed out", Code.DeadlineExceeded)),
            Math.max(1, caller.deadline - now),
          )
        : undefined;
    return {
      settle(outcome: { response: UnaryResponse } | { error: unknown }) {
        clearTimeout(timer);
        caller.signal?.removeEventListener("abort", onAbort);
        if (settled) return;
        settled = true;
        if ("response" in outcome) caller.resolve(outcome.response);
        else caller.reject(outcome.error);
      },
    };
  });
  const timeoutMs = latest === undefined ? undefined : Math.max(1, latest - now);
  transport.unary(method, controller.signal, timeoutMs, header, input, contextValues).then(
    (response) => {
      for (const cleanup of cleanups) cleanup.settle({ response });
    },
    (error: unknown) => {
      for (const cleanup of cleanups) cleanup.settle({ error });
    },
  );
}
