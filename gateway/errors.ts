// Connect errors → GraphQL errors with the spec's `extensions.code`. Resolvers convert a
// service's error where they call it, since only they know which GraphQL argument a proto field
// came from; `maskError` then hides everything that was not converted, its cause logged by the
// error-log plugin and never sent.
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
  | "FAILED_PRECONDITION"
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

/**
 * Where a request's proto fields sit among the GraphQL arguments. A violation's field path
 * (`items[0].product_id`) is renamed segment by segment (`rename`, else snake_case → camelCase),
 * then put under the argument `under` (`order.products[0].id`) unless its first segment is one
 * of `root`; a violation of the whole request (`request`) names `under` itself.
 */
export interface ArgumentNames {
  under?: string;
  rename?: Record<string, string>;
  root?: readonly string[];
}

const camelCase = (name: string) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

export function argumentPath(field: string, names: ArgumentNames = {}): string {
  const { under, rename = {}, root = [] } = names;
  if (field === "request") return under ?? field;
  const segments = field.split(".").map((segment) => {
    const bracket = segment.indexOf("[");
    const name = bracket === -1 ? segment : segment.slice(0, bracket);
    const index = bracket === -1 ? "" : segment.slice(bracket);
    return { name, path: (rename[name] ?? camelCase(name)) + index };
  });
  const path = segments.map((s) => s.path).join(".");
  return under === undefined || root.includes(segments[0]?.name ?? "") ? path : `${under}.${path}`;
}

/** A BAD_USER_INPUT error raised by the gateway itself (money, pagination). */
export function badUserInput(problems: FieldProblem[]): GraphQLError {
  const summary = problems.map((p) => `${p.field}: ${p.message}`).join("; ");
  return new GraphQLError(`invalid input: ${summary}`, {
    extensions: { code: "BAD_USER_INPUT", fields: problems },
  });
}

/** The GraphQL code for a Connect error, or undefined when callers should not see it. */
function codeFor(error: ConnectError): ErrorCode | undefined {
  // connect-node reports a peer dying mid-call ("socket hang up") as ABORTED over a Node error,
  // and a write to a socket the peer already closed (EPIPE) as INTERNAL: neither is the
  // service's answer, and the client may retry, as for any unavailable backend.
  const layers = [...causes(error)];
  if (error.code === Code.Aborted && layers.some((l) => nodeErrorCode(l) !== undefined)) {
    return "UNAVAILABLE";
  }
  if (
    error.code === Code.Internal &&
    layers.some((l) => lostConnection.test(nodeErrorCode(l) ?? ""))
  ) {
    return "UNAVAILABLE";
  }
  return byConnectCode[error.code];
}

const lostConnection = /^(EPIPE|ECONNRESET|ECONNREFUSED|ETIMEDOUT|ERR_STREAM_PREMATURE_CLOSE)$/;

function nodeErrorCode(layer: object): string | undefined {
  const code = (layer as { code?: unknown }).code;
  return typeof code === "string" && /^(E[A-Z]+|ERR_[A-Z0-9_]+)$/.test(code) ? code : undefined;
}

/** The short product a stock violation names (typed STOCK, or untyped from older services). */
function stockProductId(error: ConnectError): string | undefined {
  for (const failure of error.findDetails(PreconditionFailureSchema)) {
    const stock = failure.violations.find((v) => v.type === "STOCK" || v.type === "");
    if (stock?.subject) return stock.subject;
  }
  return undefined;
}

/**
 * A service's expected failure as the GraphQLError callers get, its fields named as `names`
 * says; anything else (not a ConnectError, or a code callers should not see) is returned as it
 * is, for maskError to hide.
 */
export function graphqlError(error: unknown, names?: ArgumentNames): unknown {
  if (!(error instanceof ConnectError)) return error;
  const code = codeFor(error);
  if (code === "BAD_USER_INPUT") {
    const fields: FieldProblem[] = error
      .findDetails(BadRequestSchema)
      .flatMap((d) => d.fieldViolations)
      .map((v) => ({ field: argumentPath(v.field, names), message: v.description }));
    if (fields.length === 0)
      return new GraphQLError(error.rawMessage, { extensions: { code, fields } });
    return badUserInput(fields);
  }
  if (code === "OUT_OF_STOCK") {
    const productId = stockProductId(error);
    if (productId !== undefined) {
      return new GraphQLError(error.rawMessage, { extensions: { code, productId } });
    }
    // Any other broken precondition: the thing's state does not allow it (cancelling a shipped
    // order), in the service's words, which name the state.
    return new GraphQLError(error.rawMessage, {
      extensions: { code: "FAILED_PRECONDITION", reason: error.rawMessage },
    });
  }
  // The transport's message names internal hosts and ports: say what the caller can do.
  if (code === "UNAVAILABLE") {
    return new GraphQLError("a backend service is unavailable; try again later", {
      extensions: { code },
    });
  }
  if (code === undefined) return error;
  return new GraphQLError(error.rawMessage, { extensions: { code } });
}

/** Awaits a backend call, converting its failure with `graphqlError`. */
export async function fromBackend<T>(call: Promise<T>, names?: ArgumentNames): Promise<T> {
  try {
    return await call;
  } catch (error) {
    throw graphqlError(error, names);
  }
}

/** Whether an error is an expected GraphQL error: ours, a converted one, or graphql-js's own. */
export function isExpected(error: unknown): boolean {
  if (!(error instanceof GraphQLError)) return false;
  const original = error.originalError;
  if (original === undefined || original === null) return true;
  // graphql-js wraps what a resolver throws, copying our error's extensions to the wrapper.
  return original instanceof GraphQLError && isExpected(original);
}

/** Yoga's maskError: expected errors pass; everything else becomes INTERNAL_SERVER_ERROR. */
export function maskError(error: unknown, message: string = unexpectedMessage): Error {
  if (isExpected(error)) return error as GraphQLError;
  const located = error instanceof GraphQLError ? error : undefined;
  return new GraphQLError(message, {
    nodes: located?.nodes,
    source: located?.source,
    positions: located?.positions,
    path: located?.path,
    extensions: { code: "INTERNAL_SERVER_ERROR" },
  });
}

/** A message field the service always sets: its absence is a bug there, hidden as unexpected. */
export function present<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the service's answer has no ${what}`);
  return value;
}
