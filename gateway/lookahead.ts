// Whether a field's selection asks for a given subfield, read from the resolve info before the
// subfields resolve. A list resolver that knows its items' subfield will be asked can fetch what
// every item needs in one step, instead of each item resolving it on its own.
import type {
  FieldNode,
  FragmentDefinitionNode,
  GraphQLResolveInfo,
  SelectionSetNode,
} from "graphql";

// graphql-jit hands every call of a field the same fieldNodes array: the answer is kept per array.
const answers = new WeakMap<readonly FieldNode[], Map<string, boolean>>();

/**
 * Whether `subfield` is selected directly under the field being resolved, through fragments
 * too, under any alias. A selection that `@skip` or `@include` may drop counts as selected: the
 * price is a fetch not needed, never a field left unresolved.
 */
export function selects(info: GraphQLResolveInfo, subfield: string): boolean {
  let known = answers.get(info.fieldNodes);
  if (known === undefined) {
    known = new Map();
    answers.set(info.fieldNodes, known);
  }
  let answer = known.get(subfield);
  if (answer === undefined) {
    answer = info.fieldNodes.some(
      (node) =>
        node.selectionSet !== undefined &&
        inSelection(node.selectionSet, subfield, info.fragments, new Set()),
    );
    known.set(subfield, answer);
  }
  return answer;
}

function inSelection(
  set: SelectionSetNode,
  subfield: string,
  fragments: Record<string, FragmentDefinitionNode>,
  visited: Set<string>,
): boolean {
  for (const selection of set.selections) {
    if (selection.kind === "Field") {
      if (selection.name.value === subfield) return true;
    } else if (selection.kind === "InlineFragment") {
      if (inSelection(selection.selectionSet, subfield, fragments, visited)) return true;
    } else {
      const name = selection.name.value;
      const fragment = fragments[name];
      if (visited.has(name) || fragment === undefined) continue;
      visited.add(name);
      if (inSelection(fragment.selectionSet, subfield, fragments, visited)) return true;
    }
  }
  return false;
}
