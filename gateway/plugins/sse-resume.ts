// Resuming subscriptions over SSE: each event that carries a resume cursor (gateway/live.ts) gets
// it as `extensions.cursor` and, on Yoga's GraphQL over SSE, as the SSE event's `id:`. A client
// that reconnects, to this gateway or another, sends it back as `Last-Event-ID` (EventSource does
// so by itself) and gets only what it missed. An event without a cursor has no `id:`, so the
// client keeps the last one it had, which is still safe to resume from.
import { type FetchAPI, isAsyncIterable, type Plugin } from "graphql-yoga";

const cursors = new WeakMap<object, string>();

/** Requests answered by this plugin's SSE writer: it writes results carrying `sseBytes`. */
export const sseFramed = new WeakSet<Request>();
/** On a result: the SSE frames that stand for it, ready to write (gateway/live/stock-frames.ts). */
export const sseBytes = Symbol("sse bytes");

/** Called by a subscription's resolve: the cursor of the event being resolved, if it has one. */
export function noteResumeCursor(context: object, cursor: string | undefined): void {
  if (cursor === undefined) cursors.delete(context);
  else cursors.set(context, cursor);
}

/** What a client sent back to resume, if anything. */
export function lastEventIdOf(request: Request): string {
  return request.headers.get("last-event-id") ?? "";
}

// Proxies drop idle connections: a comment line keeps the stream open. As in Yoga's own SSE,
// more often under tests: a body cancelled in memory (yoga.fetch) is noticed at the next write.
const pingIntervalMs = process.env.NODE_ENV === "test" ? 300 : 12_000;

export function sseResume(): Plugin {
  return {
    onSubscribe({ args }) {
      const context = args.contextValue as object;
      return {
        onSubscribeResult() {
          return {
            onNext({ result, setResult }) {
              const cursor = cursors.get(context);
              if (cursor === undefined) return;
              cursors.delete(context);
              setResult({ ...result, extensions: { ...result.extensions, cursor } });
            },
          };
        },
      };
    },
    onResultProcess({ request, result, resultProcessor, setResultProcessor }) {
      // Only where Yoga chose its own SSE for a stream of results.
      const accept = request.headers.get("accept") ?? "";
      if (!resultProcessor || !isAsyncIterable(result) || !accept.includes("text/event-stream")) {
        return;
      }
      sseFramed.add(request);
      setResultProcessor(
        (stream, fetchAPI) => sseResponse(stream as AsyncIterable<EventResult>, fetchAPI),
        "text/event-stream",
      );
    },
  };
}

interface EventResult {
  [sseBytes]?: Uint8Array;
  errors?: readonly unknown[];
  extensions?: Record<string, unknown> & { cursor?: unknown };
}

/** As Yoga writes a result: without the `http` and `unexpected` extensions that are its own. */
function stringify(result: EventResult): string {
  if (!result.errors?.length && !result.extensions?.http) return JSON.stringify(result);
  const { http: _http, ...extensions } = result.extensions ?? {};
  return JSON.stringify({
    ...result,
    errors: result.errors?.map((error) => {
      const plain = JSON.parse(JSON.stringify(error)) as { extensions?: Record<string, unknown> };
      if (plain.extensions) {
        const { http: _h, unexpected: _u, ...rest } = plain.extensions;
        plain.extensions = Object.keys(rest).length > 0 ? rest : undefined;
      }
      return plain;
    }),
    extensions: Object.keys(extensions).length > 0 ? extensions : undefined,
  });
}

/** One `next` event: `data` a result's JSON, `id:` its cursor if it has one. */
export function sseFrame(data: string, cursor: unknown): string {
  // A cursor is base-36 text and dots; anything else would break the event's framing.
  const id = typeof cursor === "string" && /^[0-9a-z.]+$/.test(cursor) ? cursor : undefined;
  return `event: next\n${id ? `id: ${id}\n` : ""}data: ${data}\n\n`;
}

/** Yoga's GraphQL over SSE (event `next` per result, `complete` at the end), with `id:` lines. */
function sseResponse(results: AsyncIterable<EventResult>, fetchAPI: FetchAPI): Response {
  const encoder = new fetchAPI.TextEncoder();
  const iterator = results[Symbol.asyncIterator]();
  let ping: NodeJS.Timeout | undefined;
  const body = new fetchAPI.ReadableStream<Uint8Array>({
    start(controller) {
      // Some browsers wait for a first byte before they hand the response over.
      controller.enqueue(encoder.encode(":\n\n"));
      ping = setInterval(() => {
        if (controller.desiredSize === null) clearInterval(ping);
        else if (controller.desiredSize > 0) controller.enqueue(encoder.encode(":\n\n"));
      }, pingIntervalMs);
    },
    async pull(controller) {
      const next = await iterator.next();
      const frames = next.value?.[sseBytes];
      if (frames) controller.enqueue(frames);
      else if (next.value != null) {
        const cursor = next.value.extensions?.cursor;
        controller.enqueue(encoder.encode(sseFrame(stringify(next.value), cursor)));
      }
      if (next.done) {
        controller.enqueue(encoder.encode("event: complete\ndata:\n\n"));
        clearInterval(ping);
        controller.close();
      }
    },
    async cancel() {
      clearInterval(ping);
      await iterator.return?.();
    },
  });
  return new fetchAPI.Response(body, {
    status: 200,
    headers: {
      "content-type": "text/event-stream",
      connection: "keep-alive",
      "cache-control": "no-cache",
      "content-encoding": "none",
    },
  });
}
