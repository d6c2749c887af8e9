// Connect errors → GraphQL errors with the spec's `extensions.code`. Expected failures keep the
// service's message (written for callers); anything else is masked as INTERNAL_SERVER_ERROR,
// its cause logged by the error-log plugin and never sent.
import { Code, ConnectError } from "@connectrpc/connect";
import { GraphQLError } from "graphql";
import { BadRequestSchema, PreconditionFailureSchema } from "../gen/google/rpc/error_details_pb.js";
import { causes } from "../platform/errors.js";

export type ErrorCode =
  | "BAD_USER_INPUT"
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "OUT_OF_STOCK"
  | "RATE_LIMITED"
  | "UNAVAILABLE"
  | "INTERNAL_SERVER_ERROR";

const byConnectCode: Partial<Record<Code, ErrorCode>> = {
  [Code.InvalidArgument]: "BAD_USER_INPUT",
  [Code.Unauthenticated]: "UNAUTHENTICATED",
  [Code.PermissionDenied]: "FORBIDDEN",
  [Code.NotFound]: "NOT_FOUND",
  [Code.AlreadyExists]: "ALREADY_EXISTS",
  [Code.FailedPrecondition]: "OUT_OF_STOCK",
  [Code.ResourceExhausted]: "RATE_LIMITED",
  [Code.Unavailable]: "UNAVAILABLE",
  [Code.DeadlineExceeded]: "UNAVAILABLE",
};

export const unexpectedMessage = "Unexpected error.";

export interface FieldProblem {
  field: string;
  message: string;
}

/** Renames a service's request field (`items[0].product_id`) to the GraphQL argument path. */
export type FieldRenamer = (field: string) => string;

const renamers = new WeakMap<ConnectError, FieldRenamer>();

/**
 * Runs a backend call; if it fails with field violations, they are reported under the GraphQL
 * argument names `rename` gives, rather than the service's proto field names.
 */
export async function withFieldNames<T>(rename: FieldRenamer, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (error instanceof ConnectError) renamers.set(error, rename);
    throw error;
  }
}

/** A BAD_USER_INPUT error raised by the gateway itself (money, pagination). */
export function badUserInput(problems: FieldProblem[]): GraphQLError {
  const summary = problems.map((p) => `${p.field}: ${p.message}`).join("; ");
  return new GraphQLError(`invalid input: ${summary}`, {
    extensions: { code: "BAD_USER_INPUT", fields: problems },
  });
}

/** The GraphQL code for a Connect error, or undefined when it is not an expected failure. */
export function codeFor(error: ConnectError): ErrorCode | undefined {
  // connect-node reports a peer dying mid-call ("socket hang up") as ABORTED over a Node error.
  if (error.code === Code.Aborted && [...causes(error)].some(isNodeError)) return "UNAVAILABLE";
  const code = byConnectCode[error.code];
  if (code === "OUT_OF_STOCK" && stockProductId(error) === undefined) {
    // FAILED_PRECONDITION without a stock violation is some other broken precondition.
    return undefined;
  }
  return code;
}

function isNodeError(layer: object): boolean {
  const code = (layer as { code?: unknown }).code;
  return typeof code === "string" && /^(E[A-Z]+|ERR_[A-Z0-9_]+)$/.test(code);
}

function stockProductId(error: ConnectError): string | undefined {
  for (const failure of error.findDetails(PreconditionFailureSchema)) {
    const stock = failure.violations.find((v) => v.type === "STOCK") ?? failure.violations[0];
    if (stock?.subject) return stock.subject;
  }
  return undefined;
}

/** Default renaming: snake_case proto names to camelCase, `[i]` kept. */
export function camelFields(field: string): string {
  return field.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function extensionsFor(error: ConnectError, code: ErrorCode): Record<string, unknown> {
  if (code === "BAD_USER_INPUT") {
    const rename = renamers.get(error) ?? camelFields;
    const fields: FieldProblem[] = error
      .findDetails(BadRequestSchema)
      .flatMap((d) => d.fieldViolations)
      .map((v) => ({ field: rename(v.field), message: v.description }));
    return { code, fields };
  }
  if (code === "OUT_OF_STOCK") return { code, productId: stockProductId(error) };
  return { code };
}

function messageFor(error: ConnectError, code: ErrorCode, ext: Record<string, unknown>): string {
  if (code === "UNAVAILABLE") {
    // The transport's message names internal hosts and ports: say what the caller can do.
    return "a backend service is unavailable; try again later";
  }
  if (code === "BAD_USER_INPUT") {
    const fields = ext.fields as FieldProblem[];
    if (fields.length > 0) {
      return `invalid input: ${fields.map((f) => `${f.field}: ${f.message}`).join("; ")}`;
    }
  }
  return error.rawMessage;
}

/** The error for the first ConnectError among `error` and its originalError chain. */
function connectCause(error: unknown): ConnectError | undefined {
  let current: unknown = error;
  for (let i = 0; i < 5 && current; i++) {
    if (current instanceof ConnectError) return current;
    current = current instanceof GraphQLError ? current.originalError : undefined;
  }
  return undefined;
}

/** Whether an error is an expected GraphQL error: ours, graphql-js's own, or a mapped Connect one. */
export function isExpected(error: unknown): boolean {
  const connect = connectCause(error);
  if (connect) return codeFor(connect) !== undefined;
  if (!(error instanceof GraphQLError)) return false;
  const original = error.originalError;
  if (original === undefined || original === null) return true;
  return original instanceof GraphQLError && isExpected(original);
}

/**
 * Yoga's maskError: a Connect error becomes its spec code (keeping path and locations), our own
 * and graphql-js's errors pass, and everything else becomes INTERNAL_SERVER_ERROR.
 */
export function maskError(error: unknown, message: string = unexpectedMessage): Error {
  const connect = connectCause(error);
  const located = error instanceof GraphQLError ? error : undefined;
  const options = {
    nodes: located?.nodes,
    source: located?.source,
    positions: located?.positions,
    path: located?.path,
  };
  if (connect) {
    const code = codeFor(connect);
    if (code) {
      const extensions = extensionsFor(connect, code);
      return new GraphQLError(messageFor(connect, code, extensions), { ...options, extensions });
    }
  } else if (isExpected(error)) {
    // Ours (graphql-js copies a wrapped error's extensions to the wrapper) or graphql-js's own.
    return error as GraphQLError;
  }
  return new GraphQLError(message, {
    ...options,
    extensions: { code: "INTERNAL_SERVER_ERROR" },
  });
}
