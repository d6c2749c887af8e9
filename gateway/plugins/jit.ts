// Executes operations through graphql-jit: a document is compiled once (kept per parsed
// document and operation name; Yoga's parse cache hands out the same document again for the same
// text) into a function that resolves and serialises it without graphql-js's per-field type
// checks. On the nested accounts → orders → products query that removed ~3/4 of the gateway's
// execution CPU.
//
// Compiling costs a few times what validating does (~1 ms for the nested query, ~10–20 ms for
// one at the field limits), so a document is compiled only when it comes a second time: a
// client's real queries repeat, while a stream of never-repeated documents (someone probing)
// costs no more than it did before.
//
// Answers stay graphql-js's: an operation whose variables do not coerce (graphql-js refuses it
// before execution, a 400 naming the variable; the compiled query answers errors without data)
// is run again by the ordinary executor, and the compiled query's errors are rebuilt as
// graphql-js locates them, so masking and the response keep their `locations`. The variables
// are coerced once, by the compiled query: @envelop/graphql-jit's `enableIf` had us coerce them
// a second time, and find the operation again, on every request.

import {
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  GraphQLError,
  type Source,
} from "graphql";
import { type CompiledQuery, compileQuery, isCompiledQuery } from "graphql-jit";
import type { Plugin } from "graphql-yoga";

type Compiled = CompiledQuery | "graphql-js";

/** `compiler`: graphql-jit's options (tests mark the resolve info of compiled queries). */
export function jit(compiler: Parameters<typeof compileQuery>[3] = {}): Plugin {
  // Per document, per operation name: undefined until seen, "seen" once, then compiled (or
  // "graphql-js" when graphql-jit cannot compile it).
  const byDocument = new WeakMap<DocumentNode, Map<string, "seen" | Compiled>>();
  const compiledFor = (args: ExecutionArgs): Compiled | undefined => {
    let byName = byDocument.get(args.document);
    if (byName === undefined) {
      byName = new Map();
      byDocument.set(args.document, byName);
    }
    const name = args.operationName ?? "";
    const known = byName.get(name);
    if (known === undefined) {
      byName.set(name, "seen");
      return undefined;
    }
    if (known !== "seen") return known;
    const made = compileQuery(
      args.schema,
      args.document,
      args.operationName ?? undefined,
      compiler,
    );
    const compiled: Compiled = isCompiledQuery(made) ? made : "graphql-js";
    byName.set(name, compiled);
    return compiled;
  };
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const compiled = compiledFor(args as ExecutionArgs);
      if (compiled === undefined || compiled === "graphql-js") return;
      const finish = (result: ExecutionResult, run: ExecutionArgs) => {
        // Variables that do not coerce: graphql-js's own refusal, word for word.
        if (result.data === undefined && result.errors?.length) return executeFn(run);
        const source = run.document.loc?.source;
        if (!result.errors?.length || !source) return result;
        return { ...result, errors: result.errors.map((error) => located(error, source)) };
      };
      setExecuteFn((run: ExecutionArgs) => {
        const result = compiled.query(run.rootValue, run.contextValue, run.variableValues);
        return typeof (result as { then?: unknown }).then === "function"
          ? (result as PromiseLike<ExecutionResult>).then((done) => finish(done, run))
          : finish(result as ExecutionResult, run);
      });
    },
  } as Plugin;
}

/** A compiled query's error (it carries line/column locations only) as graphql-js makes it. */
function located(error: GraphQLError, source: Source): GraphQLError {
  if (error.nodes !== undefined || !error.locations?.length) return error;
  return new GraphQLError(error.message, {
    source,
    positions: error.locations.map(({ line, column }) => offsetOf(source.body, line) + column - 1),
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  });
}

/** Where line `line` (1-based, graphql-js's line breaks) starts in `body`. */
function offsetOf(body: string, line: number): number {
  const breaks = /\r\n|[\n\r]/g;
  let start = 0;
  for (let at = 1; at < line; at++) {
    const found = breaks.exec(body);
    if (!found) break;
    start = found.index + found[0].length;
  }
  return start;
}
