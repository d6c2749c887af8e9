// The interceptors every service runs, outermost first: request id → observe (one log line,
// metrics, masking of unexpected errors) → authentication → the handler.
import { randomUUID } from "node:crypto";
import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import { kCaller } from "../auth/auth.js";
import { isDatabaseUnavailable, isTransactionConflict } from "../data/database.js";
import type { Logger } from "../observability/logger.js";
import type { RpcMetrics } from "../observability/metrics.js";

export const kRequestId = createContextKey<string>("", { description: "request id" });
export const kLogger = createContextKey<Logger | undefined>(undefined, { description: "logger" });

const requestIdPattern = /^[\w.:@/+=-]{1,128}$/;

/** The caller's `x-request-id` if it is one we accept (short, no spaces or controls), else a new one. */
export function acceptRequestId(given: string | null): string {
  return given && requestIdPattern.test(given) ? given : randomUUID();
}

/** Accepts a sane `x-request-id` or makes one, and echoes it in the response. */
export function requestIdInterceptor(): Interceptor {
  return (next) => async (req) => {
    const id = acceptRequestId(req.header.get("x-request-id"));
    req.contextValues.set(kRequestId, id);
    try {
      const res = await next(req);
      res.header.set("x-request-id", id);
      return res;
    } catch (error) {
      const connectError = ConnectError.from(error);
      connectError.metadata.set("x-request-id", id);
      throw connectError;
    }
  };
}

// Probes and tools (`buf curl --list-methods`), not traffic: logged at debug, so that a health
// check every few seconds does not bury the calls people make.
const plumbing = new Set([
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
]);

/**
 * One structured log line per RPC (method, code, duration, request id, caller — never a
 * message body, so never a password or token), the RPC metrics, and the rule that an
 * unexpected error reaches the client only as "internal error", its cause kept in the log.
 */
export function observeInterceptor(logger: Logger, metrics: RpcMetrics): Interceptor {
  return (next) => async (req) => {
    const started = process.hrtime.bigint();
    const requestId = req.contextValues.get(kRequestId);
    const log = logger.child({ requestId });
    req.contextValues.set(kLogger, log);
    const labels = { grpc_service: req.service.typeName, grpc_method: req.method.name };
    const finish = (code: Code | undefined, error?: unknown) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const codeName = code === undefined ? "OK" : Code[code];
      metrics.handled.inc({ ...labels, grpc_code: codeName });
      metrics.seconds.observe({ ...labels, grpc_code: codeName }, seconds);
      const caller = req.contextValues.get(kCaller);
      const entry = {
        rpc: `${req.service.typeName}/${req.method.name}`,
        code: codeName,
        ms: Math.round(seconds * 1e4) / 10,
        caller:
          caller.kind === "user"
            ? caller.accountId
            : caller.kind === "service"
              ? `service:${caller.service}`
              : undefined,
        ...(error ? { err: error } : {}),
      };
      if (code === Code.Internal || code === Code.Unknown || code === Code.DataLoss)
        log.error(entry, "rpc failed");
      else if (plumbing.has(req.service.typeName)) log.debug(entry, "rpc");
      else log.info(entry, "rpc");
    };
    try {
      const res = await next(req);
      finish(undefined);
      return res;
    } catch (error) {
      // A ConnectError's cause never goes on the wire; it is logged here and nowhere else.
      if (
        error instanceof ConnectError &&
        error.code !== Code.Internal &&
        error.code !== Code.Unknown
      ) {
        finish(error.code, error.cause);
        throw error;
      }
      // A lost database connection is not a bug: the caller may retry (with its idempotency
      // key, for CreateOrder) once the pool has reconnected.
      if (isDatabaseUnavailable(error)) {
        finish(Code.Unavailable, error);
        throw new ConnectError("the database is unavailable; try again", Code.Unavailable);
      }
      // Lost to a concurrent transaction: rolled back whole, so ABORTED (retry the call).
      if (isTransactionConflict(error)) {
        finish(Code.Aborted, error);
        throw new ConnectError("a concurrent change conflicted; try again", Code.Aborted);
      }
      finish(Code.Internal, error);
      throw new ConnectError("internal error", Code.Internal);
    }
  };
}
