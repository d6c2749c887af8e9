// One log line per GraphQL operation: its name (or "anonymous"), how long it took, the error
// codes it answered with, and the request id — the gateway's counterpart of the services' one
// line per RPC. Probes, metrics and GraphiQL end before GraphQL, so they are not logged here.
import type { ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Logger } from "../../platform/observability/logger.js";

export function operationLog(logger: Logger, requestIdOf: (request: Request) => string): Plugin {
  const seen = new WeakMap<Request, { started: number; operation: string }>();
  return {
    // Runs before anything has checked the parameters (so that a malformed request is logged
    // too, with its error code): any JSON value may be in them.
    onParams({ request, params }) {
      const { operationName, query } = params as Record<string, unknown>;
      seen.set(request, {
        started: performance.now(),
        operation:
          (typeof operationName === "string" && operationName.slice(0, maxNameLength)) ||
          (typeof query === "string" && operationNameOf(query)) ||
          "anonymous",
      });
    },
    onResultProcess({ request, result }) {
      const one = seen.get(request);
      if (one === undefined || !logger.isLevelEnabled("info")) return;
      seen.delete(request);
      const codes = new Set<string>();
      for (const r of (Array.isArray(result) ? result : [result]) as ExecutionResult[]) {
        for (const error of r?.errors ?? []) {
          const code = error.extensions?.code;
          codes.add(typeof code === "string" ? code : "GRAPHQL_VALIDATION_FAILED");
        }
      }
      logger.info(
        {
          requestId: requestIdOf(request),
          operation: one.operation,
          ms: Math.round((performance.now() - one.started) * 10) / 10,
          ...(codes.size > 0 ? { errors: [...codes] } : {}),
        },
        "graphql",
      );
    },
  };
}

/** GraphQL sets no limit on a name; a log line does. */
const maxNameLength = 100;

/** The name in `query Name …` / `mutation Name …`, without parsing the document twice. */
function operationNameOf(query: string): string | undefined {
  return query.match(/^\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]{0,99})/)?.[1];
}
