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
import {
  literalsOf,
  relocate,
  type Template,
  template as templateOf,
} from "../literal-variables.js";
import { maxShapes, type Shaped } from "./validation-shapes.js";

type Compiled = CompiledQuery | "graphql-js";

/** A shape's compiled query: its template (gateway/literal-variables.ts) compiled. */
interface ShapeCompiled {
  query: CompiledQuery;
  template: Template;
  source: Source;
}

export interface JitOptions {
  /** graphql-jit's options (tests mark the resolve info of compiled queries). */
  compiler?: Parameters<typeof compileQuery>[3];
  /** Documents that passed validation by their shape (plugins/validation-shapes.ts). */
  shaped?: WeakMap<DocumentNode, Shaped>;
}

export function jit({ compiler = {}, shaped }: JitOptions = {}): Plugin {
  // Per document, per operation name: undefined until seen, "seen" once, then compiled (or
  // "graphql-js" when graphql-jit cannot compile it).
  const byDocument = new WeakMap<DocumentNode, Map<string, "seen" | Compiled>>();
  // Per shape and operation name, the same; least recently used first, for eviction.
  const byShape = new Map<string, "seen" | ShapeCompiled | "graphql-js">();
  const compile = (args: ExecutionArgs, document: DocumentNode): Compiled => {
    const made = compileQuery(args.schema, document, args.operationName ?? undefined, compiler);
    return isCompiledQuery(made) ? made : "graphql-js";
  };
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
    const compiled = compile(args, args.document);
    byName.set(name, compiled);
    return compiled;
  };
  const shapeCompiledFor = (args: ExecutionArgs, shape: Shaped) => {
    const key = `${args.operationName ?? ""}\u0000${shape.shape}`;
    const known = byShape.get(key);
    if (known !== undefined) {
      byShape.delete(key);
      byShape.set(key, known);
      if (known !== "seen") return known;
    }
    let made: ShapeCompiled | "seen" | "graphql-js" = "seen";
    if (known === "seen") {
      const template = templateOf(args.schema, args.document, shape.ints);
      const query = template ? compile(args, template.document) : "graphql-js";
      const source = args.document.loc?.source;
      made =
        template && query !== "graphql-js" && source ? { query, template, source } : "graphql-js";
    }
    byShape.set(key, made);
    if (byShape.size > maxShapes) byShape.delete(byShape.keys().next().value as string);
    return made;
  };
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const execution = args as ExecutionArgs;
      const shape = shaped?.get(execution.document);
      const byItsShape = shape ? shapeCompiledFor(execution, shape) : undefined;
      if (byItsShape !== undefined && byItsShape !== "seen" && byItsShape !== "graphql-js") {
        const { template, source: templateSource } = byItsShape;
        const text = execution.document.loc?.source.body;
        const literals = text === undefined ? undefined : literalsOf(text, template);
        if (literals === undefined) return;
        // The compiled query's locations are in the template's text: moved to this document's.
        const at = (line: number, column: number) =>
          relocate(offsetOf(templateSource.body, line) + column - 1, template, literals.spans);
        setExecuteFn((run: ExecutionArgs) =>
          runCompiled(byItsShape.query, run, executeFn, at, literals.variables),
        );
        return;
      }
      const compiled = compiledFor(execution);
      if (compiled === undefined || compiled === "graphql-js") return;
      setExecuteFn((run: ExecutionArgs) =>
        runCompiled(
          compiled,
          run,
          executeFn,
          (line, column) => offsetOf(run.document.loc?.source.body ?? "", line) + column - 1,
        ),
      );
    },
  } as Plugin;
}

/**
 * `compiled` run for `run`, its answer graphql-js's: `at` is where a compiled query's error
 * location (line, column) is in `run`'s text; `literals`, the variables its literals became.
 */
function runCompiled(
  compiled: CompiledQuery,
  run: ExecutionArgs,
  executeFn: (args: ExecutionArgs) => unknown,
  at: (line: number, column: number) => number,
  literals?: Record<string, unknown>,
) {
  const finish = (result: ExecutionResult) => {
    // Variables that do not coerce: graphql-js's own refusal, word for word.
    if (result.data === undefined && result.errors?.length) return executeFn(run);
    const source = run.document.loc?.source;
    if (!result.errors?.length || !source) return result;
    return { ...result, errors: result.errors.map((error) => located(error, source, at)) };
  };
  const variables = literals ? { ...run.variableValues, ...literals } : run.variableValues;
  const result = compiled.query(run.rootValue, run.contextValue, variables);
  return typeof (result as { then?: unknown }).then === "function"
    ? (result as PromiseLike<ExecutionResult>).then(finish)
    : finish(result as ExecutionResult);
}

/** A compiled query's error (it carries line/column locations only) as graphql-js makes it. */
function located(
  error: GraphQLError,
  source: Source,
  at: (line: number, column: number) => number,
): GraphQLError {
  if (error.nodes !== undefined || !error.locations?.length) return error;
  return new GraphQLError(error.message, {
    source,
    positions: error.locations.map(({ line, column }) => at(line, column)),
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
