// Logs the unexpected errors of execution before Yoga masks them, so the log has the raw
// cause and the request id, and the caller gets neither.
import type { Plugin } from "graphql-yoga";
import type { GatewayContext } from "../context.js";
import { isExpected } from "../errors.js";
import type { ErrorLog } from "../logging.js";

export function errorLog(log: ErrorLog): Plugin<GatewayContext> {
  return {
    onExecute({ args }) {
      const context = args.contextValue as GatewayContext;
      return {
        onExecuteDone({ result }) {
          if (!("errors" in result) || !result.errors) return;
          for (const error of result.errors) if (!isExpected(error)) log.unexpected(error, context);
        },
      };
    },
  };
}
