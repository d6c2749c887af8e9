// Sending a call again when that cannot do harm: a call that may be repeated (a read, or a
// write the callee applies at most once) which got no answer, or any call that provably never
// left (the connection was refused). With replicas behind a balancer, "again" means on another
// connection, so usually to another replica: what lets a caller ride through a replica being
// killed or restarted. Used by the gateway's clients, the order service's peers and the
// token-version checks: `retryInterceptor` in a transport's interceptors, `withRetries` around
// anything else.
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Interceptor, type UnaryRequest } from "@connectrpc/connect";
import { causes } from "../errors.js";

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** The first backoff; each next one doubles, with full jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const defaultRetry: RetryPolicy = { attempts: 3, baseDelayMs: 25, maxDelayMs: 250 };

/** Node errors meaning no connection was ever made: the call was not sent. */
const notConnected = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN"]);

/** Whether the call never left this process: its connection was refused or never resolved. */
export function neverSent(error: unknown): boolean {
  for (const layer of causes(error)) {
    const code = (layer as { code?: unknown }).code;
    if (typeof code === "string" && notConnected.has(code)) return true;
  }
  return false;
}

/** Node socket or HTTP error codes anywhere in the cause chain: the call got no answer. */
function networkFailure(error: unknown): boolean {
  for (const layer of causes(error)) {
    const code = (layer as { code?: unknown }).code;
    if (typeof code === "string" && /^(E[A-Z]+|ERR_[A-Z0-9_]+|UND_ERR_[A-Z_]+)$/.test(code)) {
      return true;
    }
  }
  return false;
}

/**
 * Whether a failed call got no answer worth reading (the callee is down, the connection broke),
 * so that a repeatable call may be sent again. A deadline that passed is not retried: the
 * caller's time is spent.
 */
export function noAnswer(error: unknown): boolean {
  const { code } = ConnectError.from(error);
  if (code === Code.DeadlineExceeded) return false;
  return code === Code.Unavailable || code === Code.ResourceExhausted || networkFailure(error);
}

/** A method the contract declares free of side effects or idempotent. */
export function declaredIdempotent(method: { idempotency: MethodOptions_IdempotencyLevel }) {
  return (
    method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS ||
    method.idempotency === MethodOptions_IdempotencyLevel.IDEMPOTENT
  );
}

export interface RetryRule {
  policy?: RetryPolicy;
  /** Whether this call may be sent twice (its method, or what it carries). */
  repeatable: boolean;
  /** Whether a failure left no answer; `noAnswer` unless the caller reads failures its way. */
  unanswered?: (error: unknown) => boolean;
  signal?: AbortSignal | undefined;
  /** Epoch ms past which no attempt starts. */
  deadline?: number | undefined;
}

/**
 * Runs `attempt` until it succeeds or may not run again: a failure is retried when the call is
 * repeatable and got no answer, or whatever the call when it was never sent, within
 * `policy.attempts`, with exponential backoff and full jitter, never past the deadline or once
 * the caller's signal fired.
 */
export async function withRetries<T>(
  attempt: (timeLeftMs: number | undefined) => Promise<T>,
  rule: RetryRule,
): Promise<T> {
  const policy = rule.policy ?? defaultRetry;
  const unanswered = rule.unanswered ?? noAnswer;
  for (let n = 1; ; n++) {
    const left = rule.deadline === undefined ? undefined : rule.deadline - Date.now();
    try {
      return await attempt(left);
    } catch (error) {
      const delay = Math.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** n);
      const again =
        n < policy.attempts &&
        (neverSent(error) || (rule.repeatable && unanswered(error))) &&
        !rule.signal?.aborted &&
        (rule.deadline === undefined || Date.now() + delay < rule.deadline - 1);
      if (!again) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * An interceptor retrying as `withRetries` does; `repeatable` says which calls may be sent
 * twice (by default those the contract declares idempotent). The call's own signal carries its
 * deadline across attempts.
 */
export function retryInterceptor(
  options: { policy?: RetryPolicy; repeatable?: (req: UnaryRequest) => boolean } = {},
): Interceptor {
  const repeatable = options.repeatable ?? ((req) => declaredIdempotent(req.method));
  return (next) => async (req) => {
    if (req.stream) return next(req);
    return withRetries(() => next(req), {
      ...(options.policy ? { policy: options.policy } : {}),
      repeatable: repeatable(req),
      signal: req.signal,
    });
  };
}
