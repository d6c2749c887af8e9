// What every resolver gets: the backend clients, this request's loaders, and the call options
// that carry the caller's token, the request id and the deadline to the services.
import type { CallOptions } from "@connectrpc/connect";
import type { Logger } from "../platform/logger.js";
import type { Backends } from "./clients.js";
import type { Loaders } from "./loaders.js";

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
}
