// One compiled query for every document of a shape (plugins/validation-shapes.ts): a document's
// string and integer literals become variables, so documents that differ only in those
// literals (an idempotency key written inline, as clients do) run the same compiled query with
// different variables, instead of each going through graphql-js's executor as a new document.
//
// `template` rewrites the shape's second document: each literal the shape ranks becomes a
// variable of the exact type where it stands, defined on the operation. `literalsOf` reads the
// values of any later document of the shape, in the same order. A variable's default value stays
// in the text (a default cannot be a variable), so a document with one gets no template,
// and neither does one with several operations (a fragment's variable would need defining on
// each). Errors of the compiled query are located in the template's text; `relocate` moves an
// offset there to the same place in a document of the shape, whose text differs only inside the
// literals.
import {
  type DocumentNode,
  type GraphQLInputType,
  type GraphQLSchema,
  getNamedType,
  type IntValueNode,
  Kind,
  type OperationDefinitionNode,
  parseType,
  type StringValueNode,
  TypeInfo,
  type VariableDefinitionNode,
  visit,
  visitWithTypeInfo,
} from "graphql";
import { tokens } from "./plugins/validation-shapes.js";

/** How a literal's value is handed to its variable: as its coerced literal would be. */
type ValueKind = "string" | "number";

export interface Template {
  document: DocumentNode;
  /** Whether the integers became variables too (the shape ranks them), or only the strings. */
  ints: boolean;
  /** The variables the literals became, in document order. */
  names: string[];
  kinds: ValueKind[];
  /** The literals' [start, end) in the template's text. */
  spans: [number, number][];
}

const prefix = "bazaarLiteral";

type Literal = StringValueNode | IntValueNode;

/** The literals a shape ranks, in document order; undefined when a variable has a default value. */
function literalNodes(document: DocumentNode, ints: boolean): Literal[] | undefined {
  const found: Literal[] = [];
  let inDefault = false;
  visit(document, {
    VariableDefinition(node) {
      if (node.defaultValue !== undefined) inDefault = true;
    },
    StringValue(node) {
      found.push(node);
    },
    IntValue(node) {
      if (ints) found.push(node);
    },
  });
  return inDefault ? undefined : found;
}

/**
 * `document` with its literals as variables: the strings, and the integers when `ints`. None
 * when it has no such literal, a variable with a default value, more than one operation, or a
 * variable named like ours.
 */
export function template(
  schema: GraphQLSchema,
  document: DocumentNode,
  ints: boolean,
): Template | undefined {
  const operations = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  const [operation] = operations;
  if (operation === undefined || operations.length > 1) return undefined;
  if (operation.variableDefinitions?.some((v) => v.variable.name.value.startsWith(prefix))) {
    return undefined;
  }
  const literals = literalNodes(document, ints);
  if (literals === undefined || literals.length === 0) return undefined;
  const names: string[] = [];
  const kinds: ValueKind[] = [];
  const spans: [number, number][] = [];
  const definitions: VariableDefinitionNode[] = [];
  const typeInfo = new TypeInfo(schema);
  const asVariable = (node: Literal) => {
    const type: GraphQLInputType | undefined = typeInfo.getInputType() ?? undefined;
    if (type === undefined || !node.loc) throw new Unplaceable();
    const name = `${prefix}${names.length}`;
    names.push(name);
    kinds.push(node.kind === Kind.INT && getNamedType(type).name !== "ID" ? "number" : "string");
    spans.push([node.loc.start, node.loc.end]);
    const variable = { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: name } } as const;
    definitions.push({ kind: Kind.VARIABLE_DEFINITION, variable, type: parseType(String(type)) });
    return variable;
  };
  let rewritten: DocumentNode;
  try {
    rewritten = visit(
      document,
      visitWithTypeInfo(typeInfo, {
        StringValue(node) {
          return asVariable(node);
        },
        IntValue(node) {
          return ints ? asVariable(node) : undefined;
        },
      }),
    );
  } catch (error) {
    if (error instanceof Unplaceable) return undefined;
    throw error;
  }
  // The text's order, which literalsOf reads them in.
  if (spans.some(([start], i) => i > 0 && start < (spans[i - 1]?.[1] ?? 0))) return undefined;
  return {
    document: {
      ...rewritten,
      definitions: rewritten.definitions.map((d) =>
        d.kind === Kind.OPERATION_DEFINITION
          ? { ...d, variableDefinitions: [...(d.variableDefinitions ?? []), ...definitions] }
          : d,
      ),
    },
    ints,
    names,
    kinds,
    spans,
  };
}

class Unplaceable extends Error {}

/**
 * The literals of `text` (a document of `made`'s shape) as its variables' values, and where
 * they stand; read from the text with the shape's own pattern, in the order `template` met them
 * in the tree (it checked that this is the text's order).
 */
export function literalsOf(
  text: string,
  made: Template,
): { variables: Record<string, unknown>; spans: [number, number][] } | undefined {
  const variables: Record<string, unknown> = {};
  const spans: [number, number][] = [];
  for (const match of text.matchAll(tokens)) {
    const [token, value, int] = match;
    const literal = value ?? (made.ints ? int : undefined);
    if (literal === undefined) continue;
    const i = spans.length;
    const name = made.names[i];
    if (name === undefined) return undefined;
    variables[name] = made.kinds[i] === "number" ? Number(literal) : literal;
    spans.push([match.index, match.index + token.length]);
  }
  return spans.length === made.names.length ? { variables, spans } : undefined;
}

/** `offset` in the template's text, moved to the same place in a document whose literals are at `spans`. */
export function relocate(offset: number, made: Template, spans: [number, number][]): number {
  let moved = offset;
  for (const [i, [start, end]] of made.spans.entries()) {
    if (end > offset) break;
    const [theirStart, theirEnd] = spans[i] ?? [start, end];
    moved += theirEnd - theirStart - (end - start);
  }
  return moved;
}
