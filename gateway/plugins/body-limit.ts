// The largest request body (MAX_BODY_BYTES), in place of Yoga's own `maxRequestBodySize`, which
// pipes every body through a counting stream: on the flat products query that stream (and the
// abort signal of the pipeline under it) cost ~7% of the gateway's CPU. A request that came
// through Node's HTTP server with a Content-Length cannot carry more than that length (Node's
// parser reads exactly that many bytes and refuses a request that also says chunked), so
// checking the header is enough there; a body of unknown length (chunked, or a Request handed to
// `yoga.fetch`, whose header nothing enforces) is still counted as it is read.
import { IncomingMessage } from "node:http";
import { createGraphQLError, type Plugin } from "graphql-yoga";

const tooLarge = () =>
  createGraphQLError("Request body too large", {
    extensions: { http: { status: 413 }, code: "REQUEST_ENTITY_TOO_LARGE" },
  });

export function bodyLimit(maxBytes: number): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser, serverContext, fetchAPI }) {
      const length = request.headers.get("content-length");
      if (length !== null) {
        // One non-negative integer: anything else (a list, as in request smuggling) is refused.
        if (!/^\d+$/.test(length)) {
          throw createGraphQLError("Content-Length header is invalid.", {
            extensions: { http: { status: 400 }, code: "BAD_REQUEST" },
          });
        }
        if (Number(length) > maxBytes) throw tooLarge();
        const fromNode = (serverContext as { req?: unknown }).req instanceof IncomingMessage;
        if (fromNode) return;
      }
      if (requestParser === undefined || request.body === null) return;
      setRequestParser((req) => requestParser(counted(req, maxBytes, fetchAPI)));
    },
  };
}

/** The request with a body that fails once more than `maxBytes` have been read. */
function counted(
  request: Request,
  maxBytes: number,
  fetchAPI: { Request: typeof Request; TransformStream: typeof TransformStream },
): Request {
  const body = request.body;
  if (body === null) return request;
  let read = 0;
  // A native stream (from a native Request) pipes only into a native TransformStream.
  const Transform = body instanceof ReadableStream ? TransformStream : fetchAPI.TransformStream;
  const limited = body.pipeThrough(
    new Transform<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        read += chunk.byteLength;
        if (read > maxBytes) controller.error(tooLarge());
        else controller.enqueue(chunk);
      },
    }),
  );
  return new fetchAPI.Request(request.url, {
    method: request.method,
    headers: request.headers,
    signal: request.signal,
    body: limited,
    duplex: "half",
  } as RequestInit);
}
