// A request that is the caller's mistake is a 400, whatever the Accept header.
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

export function badRequests(): Plugin {
  return {
    // Yoga's GET parser reads `variables` and `extensions` with a bare JSON.parse, so
    // `variables={` would surface as an unexpected error: it is the caller's, a 400.
    onRequestParse({ url, requestParser, setRequestParser }) {
      if (!requestParser) return;
      setRequestParser(async (request) => {
        try {
          return await requestParser(request);
        } catch (error) {
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
        }
      });
    },
    // A query that does not parse or validate (unknown field, too deep, too costly) is a
    // malformed request. Yoga marks such errors as the GraphQL-over-HTTP spec's, which legacy
    // application/json clients (curl, plain fetch) would get with a 200; the spec's own status
    // stands for them too.
    onResultProcess({ result }) {
      for (const one of (Array.isArray(result) ? result : [result]) as ExecutionResult[]) {
        for (const error of one?.errors ?? []) {
          const http = error.extensions?.http as { spec?: boolean; status?: number } | undefined;
          if (http?.spec && http.status === 400) delete http.spec;
        }
      }
    },
    // A result without data is a request error (variables of the wrong type): graphql-js
    // reports it at execution, but it is the caller's mistake like any other malformed request.
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          if (!("errors" in result) || !result.errors || result.data !== undefined) return;
          setResult({
            ...result,
            errors: result.errors.map((error) =>
              isExpected(error) && error.extensions.code === undefined
                ? new GraphQLError(error.message, {
                    nodes: error.nodes,
                    source: error.source,
                    positions: error.positions,
                    extensions: {
                      ...error.extensions,
                      code: "BAD_USER_INPUT",
                      http: { status: 400 },
                    },
                  })
                : error,
            ),
          });
        },
      };
    },
  };
}
