// The limits GraphQL Armor cannot express (it does tokens, depth, aliases and directives; see
// plugins/limits.ts): how many fields a document may write, how many root mutation fields one
// operation may run, and our cost model (bracket nesting is nesting.ts's; the page-size check
// the resolvers make, pagination.ts's).
//
// Cost model, checked before execution: every field costs 1 (`__typename` too); a list field
// multiplies the cost of its selection by the number of rows it may return — its
// `pagination.take` (20 when unset, 100 when given as a variable, since the value is not known
// at validation time) for the paginated root lists, and an assumed 10 for nested lists (an
// account's orders, an order's products, the schema's types). With the default limit
// of 50,000, the spec's `accounts(pagination:{take:100}) { orders { products { product { name
// } } } }` (≈21,000) passes, while aliasing a few such lists in one request does not.
//
// Introspection is answered from the schema, with no service called: the standard schema query
// (GraphiQL's, introspection.ts) costs one per field written, since its answer lists each part
// of the schema once, however large the schema grows. Any other introspection selection is
// costed as data, and a `__schema` one is held to the depth limit, which GraphQL Armor does not
// apply under `__schema`.
//
// Every walk is linear in the document: a named fragment is costed once and its result reused
// wherever it is spread, so `...F ...F` nested twenty levels deep costs twenty fragment walks,
// not a million.
import {
  type ASTNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  GraphQLError,
  type GraphQLSchema,
  type GraphQLType,
  getNamedType,
  isCompositeType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationRule,
  visit,
} from "graphql";
import { StandardIntrospection } from "./introspection.js";
import { defaultTake } from "./pagination.js";

const nestedListSize = 10;

/** The argument whose literal `take` the cost model reads: its value matters to validation. */
export const paginationArgument = "pagination";

export interface OperationLimits {
  maxCost: number;
  maxTake: number;
  /** Root fields of one mutation operation, fragments expanded. */
  maxRootMutations: number;
  /** GRAPHQL_MAX_DEPTH, for introspection selections in no standard shape. */
  maxDepth: number;
}

function listType(type: GraphQLType): boolean {
  return isListType(isNonNullType(type) ? type.ofType : type);
}

/** How many rows a list field may return: its literal `pagination.take`, or the model's guess. */
function listSize(
  field: { arguments?: readonly { name: { value: string }; value: ASTNode }[] },
  maxTake: number,
) {
  const pagination = field.arguments?.find((a) => a.name.value === paginationArgument);
  if (!pagination) return nestedListSize;
  const value = pagination.value;
  if (value.kind === Kind.VARIABLE) return maxTake;
  if (value.kind !== Kind.OBJECT) return defaultTake;
  const take = value.fields.find((f) => f.name.value === "take");
  if (!take) return defaultTake;
  if (take.value.kind === Kind.INT) return Math.max(1, Number(take.value.value));
  return maxTake;
}

/**
 * One walk over a document's selections that visits each named fragment once: `measure`
 * gives a selection set's value, `combine` adds a field's, and spreads reuse the fragment's.
 */
class Walker {
  readonly #fragments = new Map<string, FragmentDefinitionNode>();
  readonly #costs = new Map<string, number>();
  readonly #rootFields = new Map<string, number>();
  #introspection: StandardIntrospection | undefined;
  /** The depth of the deepest `__schema` selection in no standard shape since the last reset. */
  deepestIntrospection = 0;

  constructor(
    document: DocumentNode,
    readonly schema: GraphQLSchema,
    readonly maxTake: number,
  ) {
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) {
        this.#fragments.set(definition.name.value, definition);
      }
    }
  }

  #typeOf(name: string | undefined, fallback: GraphQLCompositeType | undefined) {
    if (name === undefined) return fallback;
    const type = this.schema.getType(name);
    return isCompositeType(type) ? type : undefined;
  }

  /** A named fragment's value, computed once; 0 while it is being computed (a cycle). */
  #fragment(
    name: string,
    memo: Map<string, number>,
    compute: (f: FragmentDefinitionNode) => number,
  ) {
    const known = memo.get(name);
    if (known !== undefined) return known;
    const fragment = this.#fragments.get(name);
    if (!fragment) return 0;
    memo.set(name, 0);
    const value = compute(fragment);
    memo.set(name, value);
    return value;
  }

  cost(set: SelectionSetNode, parent: GraphQLCompositeType | undefined): number {
    let total = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (name === "__schema" || name === "__type") {
          this.#introspection ??= new StandardIntrospection(this.#fragments);
          const fields = this.#introspection.fields(selection);
          if (fields !== undefined) {
            total += fields;
            continue;
          }
          if (name === "__schema") {
            const depth = this.#introspection.depth(selection);
            this.deepestIntrospection = Math.max(this.deepestIntrospection, depth);
          }
        }
        const definition =
          isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
        const fieldType = definition?.type ?? introspectionType(this.schema, name);
        let inner = 0;
        if (selection.selectionSet) {
          const named = fieldType ? getNamedType(fieldType) : undefined;
          inner = this.cost(selection.selectionSet, isCompositeType(named) ? named : undefined);
        }
        const rows = fieldType && listType(fieldType) ? listSize(selection, this.maxTake) : 1;
        total += 1 + rows * inner;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = this.#typeOf(selection.typeCondition?.name.value, parent);
        total += this.cost(selection.selectionSet, type);
      } else {
        total += this.#fragment(selection.name.value, this.#costs, (fragment) =>
          this.cost(fragment.selectionSet, this.#typeOf(fragment.typeCondition.name.value, parent)),
        );
      }
    }
    return total;
  }

  rootFields(set: SelectionSetNode): number {
    let total = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) total += 1;
      else if (selection.kind === Kind.INLINE_FRAGMENT)
        total += this.rootFields(selection.selectionSet);
      else {
        total += this.#fragment(selection.name.value, this.#rootFields, (fragment) =>
          this.rootFields(fragment.selectionSet),
        );
      }
    }
    return total;
  }
}

/** `__schema` and `__type` are not fields of the query type, but they cost like fields. */
function introspectionType(schema: GraphQLSchema, name: string): GraphQLType | undefined {
  if (name === "__schema") return schema.getType("__Schema") ?? undefined;
  if (name === "__type") return schema.getType("__Type") ?? undefined;
  return undefined;
}

function rootType(schema: GraphQLSchema, operation: OperationDefinitionNode) {
  if (operation.operation === "mutation") return schema.getMutationType() ?? undefined;
  if (operation.operation === "subscription") return schema.getSubscriptionType() ?? undefined;
  return schema.getQueryType() ?? undefined;
}

/** A refusal the caller can act on: HTTP 400, the message naming the limit. */
export function limitError(message: string, node?: ASTNode): GraphQLError {
  return new GraphQLError(message, {
    nodes: node ? [node] : undefined,
    extensions: { code: "GRAPHQL_VALIDATION_FAILED", http: { status: 400 } },
  });
}

/** How many fields a document writes, each fragment's once. */
export function countFields(document: DocumentNode): number {
  let fields = 0;
  visit(document, {
    Field() {
      fields++;
    },
  });
  return fields;
}

/** The estimated cost of each operation in `document` (see the model above). */
export function operationCosts(
  document: DocumentNode,
  schema: GraphQLSchema,
  maxTake: number,
): Map<OperationDefinitionNode, number> {
  const walker = new Walker(document, schema, maxTake);
  const costs = new Map<OperationDefinitionNode, number>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.OPERATION_DEFINITION) {
      costs.set(definition, walker.cost(definition.selectionSet, rootType(schema, definition)));
    }
  }
  return costs;
}

/**
 * At most `maxFields` fields written, checked as validation starts. A refusal is thrown, which
 * stops validation there: graphql-js's overlapping-fields rule is quadratic in repeated fields,
 * so it must not see such a document at all.
 */
export function fieldCountRule(maxFields: number, onValidate?: () => void): ValidationRule {
  return function fieldCount() {
    return {
      Document(document) {
        onValidate?.();
        const fields = countFields(document);
        if (fields > maxFields) {
          throw limitError(
            `query has too many fields: it writes ${fields}, the limit is ${maxFields}`,
          );
        }
      },
    };
  };
}

/** Each operation's root mutations and estimated cost, with one walker per document. */
export function operationLimitsRule(limits: OperationLimits): ValidationRule {
  return function operationLimits(context) {
    const schema = context.getSchema();
    const walker = new Walker(context.getDocument(), schema, limits.maxTake);
    return {
      OperationDefinition(operation) {
        const root = rootType(schema, operation);
        if (!root) {
          // graphql-js 16 would only say so while executing, with a 200.
          context.reportError(
            limitError(`this API has no ${operation.operation} operations`, operation),
          );
          return;
        }
        if (operation.operation === "mutation") {
          const mutations = walker.rootFields(operation.selectionSet);
          if (mutations > limits.maxRootMutations) {
            context.reportError(
              limitError(
                `too many mutations in one operation: it runs ${mutations}, the limit is ${limits.maxRootMutations}`,
                operation,
              ),
            );
          }
        }
        walker.deepestIntrospection = 0;
        const cost = walker.cost(operation.selectionSet, root);
        if (walker.deepestIntrospection > limits.maxDepth) {
          context.reportError(
            limitError(
              `Query depth limit of ${limits.maxDepth} exceeded, found ${walker.deepestIntrospection}.`,
              operation,
            ),
          );
        }
        if (cost > limits.maxCost) {
          context.reportError(
            limitError(
              `query is too expensive: its estimated cost is ${cost}, the limit is ${limits.maxCost} (ask for fewer rows or fewer nested lists)`,
              operation,
            ),
          );
        }
      },
    };
  };
}
