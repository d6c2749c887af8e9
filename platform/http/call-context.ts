// What a long call (a server stream) needs to know about its surroundings: which connection it
// came on (per-connection caps) and whether the server has begun to shut down (streams end
// then, rather than holding the drain for its whole grace period).
import { createContextKey, type HandlerContext } from "@connectrpc/connect";

const noConnection = {};
const neverAborted = new AbortController().signal;

/** The connection a call came on: the HTTP/2 session, or the HTTP/1.1 socket. */
export const kConnection = createContextKey<object>(noConnection, { description: "connection" });

/** Aborted when the server starts draining (SIGTERM): streams end so the drain can finish. */
export const kDraining = createContextKey<AbortSignal>(neverAborted, {
  description: "server draining",
});

export function connectionOf(ctx: HandlerContext): object {
  return ctx.values.get(kConnection);
}

export function drainingOf(ctx: HandlerContext): AbortSignal {
  return ctx.values.get(kDraining);
}

/** The key of a node request's connection, for kConnection. */
export function connectionKey(req: { socket?: object | null; stream?: { session?: object } }) {
  return req.stream?.session ?? req.socket ?? noConnection;
}
