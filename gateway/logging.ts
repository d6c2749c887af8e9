// Each unexpected error is logged once, with its request id: the error-log plugin logs those
// from execution and marks them, and Yoga's own logger (the adapter below) skips marked ones.
// Expected failures (a NOT_FOUND…) are worth no more than debug.
import type { GraphQLError } from "graphql";
import type { Logger } from "../platform/observability/logger.js";
import type { GatewayContext } from "./context.js";
import { isExpected } from "./errors.js";

type LogMethod = (...args: unknown[]) => void;

export interface ErrorLog {
  /** Logs an unexpected error from execution, with the request's id. */
  unexpected(error: GraphQLError, context: GatewayContext): void;
  /** What Yoga's `logging` option takes. */
  yoga: { debug: LogMethod; info: LogMethod; warn: LogMethod; error: LogMethod };
}

export function createErrorLog(logger: Logger): ErrorLog {
  const logged = new WeakSet<object>();
  return {
    unexpected(error, context) {
      logged.add(error);
      context.log.error(
        { err: error.originalError ?? error, path: error.path, requestId: context.requestId },
        "unexpected error in a resolver",
      );
    },
    yoga: {
      debug: (...args) => logger.debug({ yoga: args }, "yoga"),
      info: (...args) => logger.debug({ yoga: args }, "yoga"),
      warn: (...args) => logger.warn({ yoga: args }, "yoga"),
      // What was not logged by the plugin: a failing plugin or context, or an expected error.
      error: (...args) => {
        for (const arg of args) {
          if (typeof arg === "object" && arg !== null && logged.has(arg)) continue;
          if (isExpected(arg)) logger.debug({ err: arg }, "request failed");
          else logger.error({ err: arg }, "unexpected error");
        }
      },
    },
  };
}
