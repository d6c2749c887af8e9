// Which introspection selections are the standard schema query, the one GraphiQL and every client
// library send (graphql-js's getIntrospectionQuery, with any of its options): its answer lists
// each type, field, argument and enum value of the schema once, so it is bounded by the schema,
// not the data, and the cost model (limits.ts) counts it one per field written instead of as
// nested lists of rows.
//
// The standard query asks for the lists of a type (fields, inputFields, interfaces, enumValues,
// possibleTypes) only on the types of `__schema.types` (or of a root `__type`), and reaches every
// other type through a reference (`type`, `ofType`, `interfaces`…) that asks only for kind and
// name, at most 9 `ofType` deep. A selection that goes further (the lists of a type reached
// through a reference, which multiply at each level, an `ofType` chain past 9, an alias, any
// field the standard query does not ask for) is not standard and is costed as data, within the
// depth limit.
import { type FieldNode, type FragmentDefinitionNode, Kind, type SelectionSetNode } from "graphql";

type Level = "schema" | "type" | "field" | "inputValue" | "enumValue" | "directive" | "typeRef";

/** What the standard query selects at each level: a scalar (null) or the level below. */
const shape: Record<Level, Record<string, Level | null>> = {
  schema: {
    description: null,
    queryType: "typeRef",
    mutationType: "typeRef",
    subscriptionType: "typeRef",
    types: "type",
    directives: "directive",
  },
  type: {
    kind: null,
    name: null,
    description: null,
    specifiedByURL: null,
    isOneOf: null,
    fields: "field",
    inputFields: "inputValue",
    interfaces: "typeRef",
    enumValues: "enumValue",
    possibleTypes: "typeRef",
  },
  field: {
    name: null,
    description: null,
    args: "inputValue",
    type: "typeRef",
    isDeprecated: null,
    deprecationReason: null,
  },
  inputValue: {
    name: null,
    description: null,
    type: "typeRef",
    defaultValue: null,
    isDeprecated: null,
    deprecationReason: null,
  },
  enumValue: { name: null, description: null, isDeprecated: null, deprecationReason: null },
  directive: {
    name: null,
    description: null,
    isRepeatable: null,
    locations: null,
    args: "inputValue",
    isDeprecated: null,
    deprecationReason: null,
  },
  typeRef: { kind: null, name: null, ofType: "typeRef" },
};

/** graphql-js's `typeDepth` (9): how many `ofType` a type reference nests. */
export const maxTypeDepth = 9;

/** The standard shapes in one document, each named fragment checked once per place it is used. */
export class StandardIntrospection {
  readonly #memo = new Map<string, number | undefined | "busy">();
  readonly #depths = new Map<string, number>();

  constructor(readonly fragments: ReadonlyMap<string, FragmentDefinitionNode>) {}

  /**
   * The number of fields a root `__schema` or `__type` selection writes (fragments once), if it
   * is in the standard shape; undefined if it is not.
   */
  fields(field: FieldNode): number | undefined {
    if (field.alias !== undefined || field.selectionSet === undefined) return undefined;
    const level = field.name.value === "__schema" ? "schema" : "type";
    const inner = this.#set(field.selectionSet, level, 0);
    return inner === undefined ? undefined : 1 + inner;
  }

  /**
   * How many fields deep a root selection nests, as GraphQL Armor counts depth (fragments
   * flattened): Armor does not count under `__schema`, so limits.ts does for one in no standard
   * shape.
   */
  depth(field: FieldNode): number {
    return 1 + (field.selectionSet ? this.#depth(field.selectionSet) : 0);
  }

  #depth(set: SelectionSetNode): number {
    let deepest = 0;
    for (const selection of set.selections) {
      let depth: number;
      if (selection.kind === Kind.FIELD) depth = this.depth(selection);
      else if (selection.kind === Kind.INLINE_FRAGMENT) depth = this.#depth(selection.selectionSet);
      else {
        const name = selection.name.value;
        const fragment = this.fragments.get(name);
        depth = this.#depths.get(name) ?? 0;
        if (fragment !== undefined && !this.#depths.has(name)) {
          this.#depths.set(name, 0); // a cycle (refused by validation) ends here
          depth = this.#depth(fragment.selectionSet);
          this.#depths.set(name, depth);
        }
      }
      deepest = Math.max(deepest, depth);
    }
    return deepest;
  }

  #set(set: SelectionSetNode, level: Level, typeDepth: number): number | undefined {
    let fields = 0;
    for (const selection of set.selections) {
      let inner: number | undefined;
      if (selection.kind === Kind.FIELD) {
        inner = this.#field(selection, level, typeDepth);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        inner = this.#set(selection.selectionSet, level, typeDepth);
      } else {
        inner = this.#fragment(selection.name.value, level, typeDepth);
      }
      if (inner === undefined) return undefined;
      fields += inner;
    }
    return fields;
  }

  #field(field: FieldNode, level: Level, typeDepth: number): number | undefined {
    if (field.alias !== undefined) return undefined;
    const name = field.name.value;
    if (name === "__typename") return 1;
    const below = shape[level][name];
    if (below === undefined) return undefined;
    if (below === null) return field.selectionSet === undefined ? 1 : undefined;
    if (field.selectionSet === undefined) return undefined;
    const depth = level === "typeRef" ? typeDepth + 1 : 0;
    if (depth > maxTypeDepth) return undefined;
    const inner = this.#set(field.selectionSet, below, depth);
    return inner === undefined ? undefined : 1 + inner;
  }

  /** A fragment spread at `level`; a cycle (refused by validation anyway) is not standard. */
  #fragment(name: string, level: Level, typeDepth: number): number | undefined {
    const key = `${name}/${level}/${typeDepth}`;
    const known = this.#memo.get(key);
    if (known === "busy") return undefined;
    if (this.#memo.has(key)) return known;
    const fragment = this.fragments.get(name);
    if (fragment === undefined) return undefined;
    this.#memo.set(key, "busy");
    const fields = this.#set(fragment.selectionSet, level, typeDepth);
    this.#memo.set(key, fields);
    return fields;
  }
}
