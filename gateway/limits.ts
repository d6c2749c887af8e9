// Limits that keep one query from costing the services too much: nesting depth, an estimated
// cost, and page sizes. (The 1 MiB body limit is Yoga's maxRequestBodySize, set in server.ts.)
//
// Cost model, checked before execution: every field costs 1; a list field multiplies the cost
// of its selection by the number of rows it may return — its `pagination.take` (20 when unset,
// 100 when given as a variable, since the value is not known at validation time) for the
// paginated root lists, and an assumed 10 for nested lists (an account's orders, an order's
// products). Introspection fields (`__schema`, `__type`, …) are free and not counted for depth,
// so GraphiQL's schema query always works. With the default limit of 50,000, the spec's
// `accounts(pagination:{take:100}) { orders { products { product { name } } } }` (≈21,000)
// passes, while aliasing a few such lists in one request does not.
import {
  type ASTNode,
  type FieldNode,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLNamedType,
  type GraphQLType,
  getNamedType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import { badUserInput, type FieldProblem } from "./errors.js";

export interface PaginationInput {
  skip?: number | null;
  take?: number | null;
}

export const defaultTake = 20;
const nestedListSize = 10;

/** skip ≥ 0 and take 1 … maxTake, with the schema's defaults for null. */
export function checkPagination(
  input: PaginationInput | null | undefined,
  maxTake: number,
): { skip: number; take: number } {
  const skip = input?.skip ?? 0;
  const take = input?.take ?? defaultTake;
  const problems: FieldProblem[] = [];
  if (skip < 0) problems.push({ field: "pagination.skip", message: "must be 0 or more" });
  if (take < 1 || take > maxTake) {
    problems.push({ field: "pagination.take", message: `must be 1 to ${maxTake}` });
  }
  if (problems.length > 0) throw badUserInput(problems);
  return { skip, take };
}

type Fragments = (name: string) => FragmentDefinitionNode | undefined | null;

function isIntrospection(field: FieldNode): boolean {
  return field.name.value.startsWith("__");
}

/** The deepest field nesting under `set`, root fields being depth 1. */
function depthOf(set: SelectionSetNode, fragments: Fragments, seen: Set<string>): number {
  let deepest = 0;
  for (const selection of set.selections) {
    let depth = 0;
    if (selection.kind === Kind.FIELD) {
      if (isIntrospection(selection)) continue;
      depth = 1 + (selection.selectionSet ? depthOf(selection.selectionSet, fragments, seen) : 0);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      depth = depthOf(selection.selectionSet, fragments, seen);
    } else {
      const name = selection.name.value;
      const fragment = fragments(name);
      // A cycle is reported by graphql-js's own NoFragmentCycles rule.
      if (!fragment || seen.has(name)) continue;
      seen.add(name);
      depth = depthOf(fragment.selectionSet, fragments, seen);
      seen.delete(name);
    }
    deepest = Math.max(deepest, depth);
  }
  return deepest;
}

function listType(type: GraphQLType): boolean {
  return isListType(isNonNullType(type) ? type.ofType : type);
}

/** How many rows a list field may return: its literal `pagination.take`, or the model's guess. */
function listSize(field: FieldNode, maxTake: number): number {
  const pagination = field.arguments?.find((a) => a.name.value === "pagination");
  if (!pagination) return nestedListSize;
  if (pagination.value.kind === Kind.VARIABLE) return maxTake;
  if (pagination.value.kind !== Kind.OBJECT) return defaultTake;
  const take = pagination.value.fields.find((f) => f.name.value === "take");
  if (!take) return defaultTake;
  if (take.value.kind === Kind.INT) return Math.max(1, Number(take.value.value));
  return maxTake;
}

function costOf(
  set: SelectionSetNode,
  parent: GraphQLNamedType | undefined,
  context: ValidationContext,
  maxTake: number,
  seen: Set<string>,
): number {
  let total = 0;
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      if (isIntrospection(selection)) continue;
      const definition = isObjectType(parent)
        ? parent.getFields()[selection.name.value]
        : undefined;
      let inner = 0;
      if (selection.selectionSet) {
        const type = definition ? getNamedType(definition.type) : undefined;
        inner = costOf(selection.selectionSet, type, context, maxTake, seen);
      }
      const rows = definition && listType(definition.type) ? listSize(selection, maxTake) : 1;
      total += 1 + rows * inner;
    } else {
      let fragmentSet: SelectionSetNode;
      let typeName: string | undefined;
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        fragmentSet = selection.selectionSet;
        typeName = selection.typeCondition?.name.value;
      } else {
        const name = selection.name.value;
        const fragment = context.getFragment(name);
        if (!fragment || seen.has(name)) continue;
        fragmentSet = fragment.selectionSet;
        typeName = fragment.typeCondition.name.value;
        seen.add(name);
      }
      const type = typeName ? context.getSchema().getType(typeName) : parent;
      total += costOf(fragmentSet, type ?? undefined, context, maxTake, seen);
      if (selection.kind === Kind.FRAGMENT_SPREAD) seen.delete(selection.name.value);
    }
  }
  return total;
}

function limitError(message: string, node: ASTNode): GraphQLError {
  return new GraphQLError(message, { nodes: [node] });
}

export function depthLimitRule(maxDepth: number): ValidationRule {
  return (context) => ({
    OperationDefinition(node) {
      const depth = depthOf(node.selectionSet, (name) => context.getFragment(name), new Set());
      if (depth > maxDepth) {
        context.reportError(
          limitError(
            `query is too deep: it nests ${depth} levels of fields, the limit is ${maxDepth}`,
            node,
          ),
        );
      }
    },
  });
}

export function costLimitRule(maxCost: number, maxTake: number): ValidationRule {
  return (context) => ({
    OperationDefinition(node) {
      const root =
        node.operation === "mutation"
          ? context.getSchema().getMutationType()
          : node.operation === "subscription"
            ? context.getSchema().getSubscriptionType()
            : context.getSchema().getQueryType();
      const cost = costOf(node.selectionSet, root ?? undefined, context, maxTake, new Set());
      if (cost > maxCost) {
        context.reportError(
          limitError(
            `query is too expensive: its estimated cost is ${cost}, the limit is ${maxCost} (ask for fewer rows or fewer nested lists)`,
            node,
          ),
        );
      }
    },
  });
}
