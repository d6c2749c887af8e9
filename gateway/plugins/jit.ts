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
//
// Documents that differ only in their literals (plugins/validation-shapes.ts's shapes: a fresh
// idempotency key written inline makes every createOrder a new document) share one compiled
// query: the shape's second document is rewritten with its literals as variables
// (gateway/literal-variables.ts) and compiled, and each later document runs it with its own
// literals, read from its text. Such a later text is not even parsed: `onParse` gives it the
// shape's tree with its own text as the source, and it is never executed from that tree.
// Together: −17% gateway CPU per createOrder in paired rounds (docs/performance.md).

import {
  type DefinitionNode,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  GraphQLError,
  Kind,
  type Location,
  parse,
  Source,
} from "graphql";
import { type CompiledQuery, compileQuery, isCompiledQuery } from "graphql-jit";
import type { Plugin } from "graphql-yoga";
import { Lru } from "../../platform/lru.js";
import {
  literalsOf,
  relocate,
  type Template,
  template as templateOf,
} from "../literal-variables.js";
import { maxLength, maxShapes, type Shaped, shapesOf } from "./validation-shapes.js";

type Compiled = CompiledQuery | "graphql-js";

/**
 * A shape's template (gateway/literal-variables.ts), the text it was made from, and that text's
 * tree, which later documents of the shape are given instead of being parsed (`onParse`).
 */
interface ShapeTemplate {
  template: Template;
  source: Source;
  definitions: readonly DefinitionNode[];
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
  // Per shape: "seen" once, then its template ("graphql-js" when it has none); and per
  // operation name and shape, the template compiled. Bounded as validation-shapes.ts's shapes.
  const templates = new Lru<"seen" | ShapeTemplate | "graphql-js">(maxShapes);
  const byShape = new Lru<Compiled>(maxShapes);
  // Documents given their shape's tree by onParse: their own text is only in `loc`, so they
  // must never be executed from their tree as it is.
  const fromShape = new WeakMap<DocumentNode, ShapeTemplate>();
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
  /** The shape's template, made when its second document comes. */
  const templateFor = (args: ExecutionArgs, shape: Shaped): ShapeTemplate | undefined => {
    const known = templates.get(shape.shape);
    if (known === undefined) templates.set(shape.shape, "seen");
    if (known !== "seen") return typeof known === "object" ? known : undefined;
    const template = templateOf(args.schema, args.document, shape.ints);
    const source = args.document.loc?.source;
    const made =
      template && source ? { template, source, definitions: args.document.definitions } : undefined;
    templates.set(shape.shape, made ?? "graphql-js");
    return made;
  };
  const compiledFromTemplate = (args: ExecutionArgs, shape: string, made: ShapeTemplate) => {
    const key = `${args.operationName ?? ""}\u0000${shape}`;
    let compiled = byShape.get(key);
    if (compiled === undefined) {
      compiled = compile(args, made.template.document);
      byShape.set(key, compiled);
    }
    return compiled;
  };
  return {
    // A text of a shape that has a template is not parsed: it gets the template's tree, with its
    // own text as its source (which is all validation-shapes.ts and literalsOf read of it).
    onParse({ params, setParsedDocument }) {
      if (shaped === undefined) return;
      const text = typeof params.source === "string" ? params.source : params.source.body;
      if (text.length > maxLength) return;
      const shapes = shapesOf(text);
      for (const [shape, ints] of [
        [shapes.all, true],
        [shapes.strings, false],
      ] as const) {
        const made = shape === undefined ? undefined : templates.get(shape);
        if (shape === undefined || typeof made !== "object" || made.template.ints !== ints) {
          continue;
        }
        const document: DocumentNode = {
          kind: Kind.DOCUMENT,
          definitions: made.definitions,
          loc: { start: 0, end: text.length, source: new Source(text) } as Location,
        };
        shaped.set(document, { shape, ints });
        fromShape.set(document, made);
        setParsedDocument(document);
        return;
      }
    },
    onExecute({ args, executeFn, setExecuteFn }) {
      const execution = args as ExecutionArgs;
      const shape = shaped?.get(execution.document);
      const given = fromShape.get(execution.document);
      const made = given ?? (shape ? templateFor(execution, shape) : undefined);
      const compiled =
        made && shape ? compiledFromTemplate(execution, shape.shape, made) : undefined;
      const text = execution.document.loc?.source.body;
      const literals =
        made && text !== undefined && compiled !== "graphql-js"
          ? literalsOf(text, made.template)
          : undefined;
      if (made && compiled && compiled !== "graphql-js" && literals) {
        // The compiled query's locations are in the template's text: moved to this document's.
        const at = (line: number, column: number) =>
          relocate(offsetOf(made.source.body, line) + column - 1, made.template, literals.spans);
        const own = given && text !== undefined ? () => parse(text) : undefined;
        setExecuteFn((run: ExecutionArgs) =>
          runCompiled(compiled, run, executeFn, at, literals.variables, own),
        );
        return;
      }
      if (given !== undefined) {
        // Not to be run from the template's tree: graphql-js on the document's own.
        if (text !== undefined) {
          setExecuteFn((run: ExecutionArgs) => executeFn({ ...run, document: parse(text) }));
        }
        return;
      }
      const byDocumentCompiled = compiledFor(execution);
      if (byDocumentCompiled === undefined || byDocumentCompiled === "graphql-js") return;
      setExecuteFn((run: ExecutionArgs) =>
        runCompiled(
          byDocumentCompiled,
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
  own?: () => DocumentNode,
) {
  const finish = (result: ExecutionResult) => {
    // Variables that do not coerce: graphql-js's own refusal, word for word (on the document's
    // own tree, `own`, when it was given its shape's).
    if (result.data === undefined && result.errors?.length) {
      return executeFn(own ? { ...run, document: own() } : run);
    }
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
