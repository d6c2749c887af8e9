// Every request gets an id: the caller's `x-request-id` when it is sane, else a new one. It is
// echoed in the response, passed to the services (context.ts) and written in the logs.
import type { Plugin } from "graphql-yoga";
import { acceptRequestId } from "../../platform/http/interceptors.js";

export interface RequestIds {
  plugin: Plugin;
  /** This request's id (a fresh one for a request the plugin has not seen). */
  of(request: Request): string;
}

export function requestIds(): RequestIds {
  const ids = new WeakMap<Request, string>();
  const of = (request: Request) => {
    let id = ids.get(request);
    if (id === undefined) {
      id = acceptRequestId(request.headers.get("x-request-id"));
      ids.set(request, id);
    }
    return id;
  };
  return {
    of,
    plugin: {
      onRequest({ request }) {
        of(request);
      },
      onResponse({ request, response }) {
        response.headers.set("x-request-id", of(request));
      },
    },
  };
}
