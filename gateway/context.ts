// What every resolver gets, made per request by `createContext`: the backend clients, this
// request's DataLoaders, and the call options that carry the caller's token, the request id and
// the deadline to the services.
import type { CallOptions } from "@connectrpc/connect";
import type { YogaInitialContext } from "graphql-yoga";
import { maxTake } from "../platform/http/validation.js";
import type { Logger } from "../platform/observability/logger.js";
import type { Backends } from "./clients.js";
import type { GatewayConfig } from "./config.js";
import type { LiveFeeds } from "./live.js";
import { createLoaders, type Loaders } from "./loaders.js";
import { lastEventIdOf } from "./plugins/sse-resume.js";

/** The most rows one list field may ask for: the services' own limit. */
export { maxTake };

export interface GatewayContext {
  backends: Backends;
  loaders: Loaders;
  /** Options for every backend call made for this request. */
  call: CallOptions;
  /** The raw Authorization header, if the caller sent one. */
  authorization: string | undefined;
  requestId: string;
  log: Logger;
  maxTake: number;
  /** The process's shared live feeds (subscriptions). */
  live: LiveFeeds;
  /** SSE's Last-Event-ID: the cursor a reconnecting subscriber resumes from ("" for none). */
  lastEventId: string;
  /**
   * Fresh loaders and a fresh deadline, for each event of a subscription: it lives far longer
   * than one request's budget and cache.
   */
  renew(): void;
}

export interface ContextDependencies {
  backends: Backends;
  config: GatewayConfig;
  logger: Logger;
  /** The id the request-id plugin gave this request. */
  requestIdOf: (request: Request) => string;
  live: LiveFeeds;
}

export function createContext(deps: ContextDependencies) {
  return ({ request, ...server }: YogaInitialContext & { req?: unknown }): GatewayContext => {
    const requestId = deps.requestIdOf(request);
    const authorization = request.headers.get("authorization") ?? undefined;
    const headers: Record<string, string> = { "x-request-id": requestId };
    if (authorization !== undefined) headers.authorization = authorization;
    // The client's address, for the account service's per-client limits (it believes this only
    // from a peer in its TRUSTED_PROXIES).
    const peer = (server.req as { socket?: { remoteAddress?: string } } | undefined)?.socket
      ?.remoteAddress;
    if (peer) headers["x-forwarded-for"] = peer;
    // BACKEND_TIMEOUT_MS is the whole request's budget: each call (a getter, read as the call
    // starts) gets what is left of it, and the services see that as their deadline, so none
    // works on for a request the gateway has given up on.
    let deadline = Date.now() + deps.config.BACKEND_TIMEOUT_MS;
    const call: CallOptions = {
      headers,
      get timeoutMs() {
        return Math.max(1, deadline - Date.now());
      },
    };
    return {
      backends: deps.backends,
      loaders: createLoaders(deps.backends, call),
      call,
      authorization,
      requestId,
      log: deps.logger,
      maxTake,
      live: deps.live,
      lastEventId: lastEventIdOf(request),
      // Called as ctx.renew(): Yoga hands resolvers its own merge of this object, so `this`.
      renew(this: GatewayContext) {
        deadline = Date.now() + deps.config.BACKEND_TIMEOUT_MS;
        this.loaders = createLoaders(deps.backends, call);
      },
    };
  };
}
