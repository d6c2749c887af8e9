// A request that is the caller's mistake is a 400, as the GraphQL-over-HTTP spec says: a body
// that is not a well-formed GraphQL request (not JSON, a `query` that is not a string) whatever
// the Accept header; a document that does not parse or validate, or variables that do not
// coerce, for a client accepting application/graphql-response+json, while a client that accepts
// only application/json gets those with a 200, the errors in the body (Yoga's `http.spec`).
import { type ExecutionResult, GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";
import { isExpected } from "../errors.js";

/** Which GET parameter holds no JSON, if one does. */
function unreadableParameter(url: URL): string | undefined {
  for (const name of ["variables", "extensions"]) {
    const value = url.searchParams.get(name);
    if (!value) continue;
    try {
      JSON.parse(value);
    } catch {
      return name;
    }
  }
  return undefined;
}

/** What JSON calls a value's type: "array" and "null" apart from "object". */
function jsonType(value: unknown): string {
  if (value === null) return "null";
  return Array.isArray(value) ? "array" : typeof value;
}

/**
 * What makes `params` no GraphQL request, if anything does: the spec's `query` is a string,
 * `operationName` a string or null, `variables` and `extensions` maps or null. Yoga checks all
 * but `operationName` only after every plugin's `onParams` has run; this runs before them.
 */
export function malformedParams(params: Record<string, unknown>): string | undefined {
  const { query, operationName, variables, extensions } = params;
  if (query !== undefined && query !== null && typeof query !== "string") {
    return `the "query" parameter must be a string, not ${jsonType(query)}`;
  }
  if (operationName !== undefined && operationName !== null && typeof operationName !== "string") {
    return `the "operationName" parameter must be a string, not ${jsonType(operationName)}`;
  }
  for (const [name, value] of [
    ["variables", variables],
    ["extensions", extensions],
  ] as const) {
    const type = jsonType(value);
    if (type !== "object" && type !== "null" && type !== "undefined") {
      return `the "${name}" parameter must be a map, not ${type}`;
    }
  }
  return undefined;
}

export function badRequests(): Plugin {
  return {
    // First of our plugins to read the parameters, so none after it sees a malformed one.
    onParams({ params }) {
      const problem = malformedParams(params as Record<string, unknown>);
      if (problem !== undefined) {
        throw new GraphQLError(problem, {
          extensions: { code: "BAD_REQUEST", http: { status: 400 } },
        });
      }
    },
    // Yoga's GET parser reads `variables` and `extensions` with a bare JSON.parse, so
    // `variables={` would surface as an unexpected error: it is the caller's, a 400.
    onRequestParse({ url, requestParser, setRequestParser }) {
      if (!requestParser) return;
      const refuse = (error: unknown): never => {
        // Yoga's own refusals carry their status; one that does not is still the caller's.
        if (error instanceof GraphQLError) {
          if (error.extensions.http === undefined) {
            throw new GraphQLError(error.message, {
              extensions: { ...error.extensions, http: { status: 400 } },
            });
          }
          throw error;
        }
        const parameter = unreadableParameter(url);
        throw new GraphQLError(
          parameter
            ? `the ${parameter} parameter is not valid JSON`
            : "the request's GraphQL parameters could not be read",
          { extensions: { http: { status: 400 } } },
        );
      };
      // Not an async function: that cost every request a promise and a turn.
      setRequestParser((request) => {
        try {
          const parsed = requestParser(request);
          return isThenable(parsed) ? parsed.then(undefined, refuse) : parsed;
        } catch (error) {
          return refuse(error);
        }
      });
    },
    // Yoga refuses an operationName the document does not define with a 400 that it does not
    // mark as the spec's, unlike the other request errors: it is one, a 200 for application/json.
    onResultProcess({ result, setResult }) {
      // A subscription refused before its first event (graphql-jit reports variables that do
      // not coerce there) answers once, like a query: the same request error.
      const refused = Array.isArray(result) ? undefined : asRequestError(result);
      if (refused) {
        setResult(refused);
        return;
      }
      for (const error of (result as ExecutionResult).errors ?? []) {
        if (error.extensions?.code !== "OPERATION_RESOLUTION_FAILURE") continue;
        const http = error.extensions.http as { spec?: boolean; status?: number } | undefined;
        if (http?.status === 400) http.spec = true;
      }
    },
    // A result without data is a request error (variables of the wrong type): graphql-js
    // reports it at execution (or at subscribe), but it is the caller's mistake like any other
    // malformed request.
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          const refused = asRequestError(result);
          if (refused) setResult(refused);
        },
      };
    },
    onSubscribe() {
      return {
        onSubscribeResult({ result, setResult }) {
          const refused = asRequestError(result);
          if (refused) setResult(refused);
        },
      };
    },
  };
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/** A result with errors and no data as a 400-worthy request error, or undefined. */
function asRequestError(result: unknown): ExecutionResult | undefined {
  if (typeof result !== "object" || result === null || !("errors" in result)) return undefined;
  const { errors, data } = result as ExecutionResult;
  if (!errors || data !== undefined) return undefined;
  if (!errors.some((error) => isExpected(error) && error.extensions.code === undefined)) {
    return undefined;
  }
  return {
    ...(result as ExecutionResult),
    errors: errors.map((error) =>
      isExpected(error) && error.extensions.code === undefined
        ? new GraphQLError(error.message, {
            nodes: error.nodes,
            source: error.source,
            positions: error.positions,
            extensions: {
              ...error.extensions,
              code: "BAD_USER_INPUT",
              // `spec`: the GraphQL-over-HTTP status, which Yoga leaves at 200 for a client
              // accepting only application/json, as the spec asks.
              http: { status: 400, spec: true },
            },
          })
        : error,
    ),
  };
}
