// Validation by shape: a document that passed validation is remembered by its shape (its text with
// each string and integer literal replaced by the rank of its value's first appearance), so that
// documents differing only in such literals (an idempotency key, an id or a quantity written
// inline, as clients do) are validated once, not once each. Yoga's own cache is keyed by the exact
// text: every such document missed it, and validating a fresh two-field mutation cost more than
// executing it.
//
// Why a shape's verdict holds for every document of that shape: the text outside the literals is
// the same (tokens, names, floats, comments), and so is which literals equal which (the
// overlapping-fields rule compares arguments). A literal's own value matters where its type parses
// literals by value (DateTime, enums, Int's 32-bit range) and where a rule reads it (the cost
// model's `take`, in `valueArguments`). So a shape is remembered only when it passed, so every
// refusal is made, and worded, by validation itself; with its strings ranked only when each
// stands where a String or an ID goes, which accept any string; with its integers ranked only when
// each stands where an Int, a Float or an ID goes, outside `valueArguments`, and is then served
// only to documents whose integers are all 32-bit. Otherwise the integers stay as written in the
// shape. Strings with escapes and block strings (whose equal values can be written differently)
// are left to ordinary validation.
import {
  type DocumentNode,
  getNamedType,
  isSpecifiedScalarType,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import type { Plugin } from "graphql-yoga";

/** Shapes remembered, and the longest document looked at: enough for clients' real mutations. */
export const maxShapes = 1000;
export const maxLength = 8 * 1024;

/** A document's shapes: `strings` ranks its strings only, `all` its integers too. */
export interface Shapes {
  strings?: string;
  all?: string;
}

// A comment, a block string, a plain string, a string with an escape (its opening quote), an
// integer (a number token with no fraction or exponent: not preceded by a name, a `.`, or an
// exponent's sign; not followed by a name or a `.`).
// Exported for literal-variables.ts, which reads a shaped document's literals with it.
export const tokens = /#[^\n\r]*|"""|"([^"\\\n\r]*)"|"|(?<![\w.+-])(-?\d+)(?![\w.])/g;

function rank(ranks: Map<string, number>, value: string): number {
  let known = ranks.get(value);
  if (known === undefined) {
    known = ranks.size;
    ranks.set(value, known);
  }
  return known;
}

/**
 * `text`'s shapes; none when it has neither strings nor integers, or has a block string or a
 * string with an escape; no `all` when an integer is not 32-bit. The text is a document that
 * parsed, so a `"` outside a comment opens a string and `#` outside a string a comment.
 */
export function shapesOf(text: string): Shapes {
  const strings = new Map<string, number>();
  const ints = new Map<string, number>();
  let byStrings = "";
  let byAll = "";
  let at = 0;
  let int32 = true;
  for (const match of text.matchAll(tokens)) {
    const [token, value, int] = match;
    if (token.startsWith("#")) continue;
    if (value === undefined && int === undefined) return {};
    const gap = text.slice(at, match.index);
    at = match.index + token.length;
    if (value !== undefined) {
      const ranked = `"${rank(strings, value)}"`;
      byStrings += gap + ranked;
      byAll += gap + ranked;
    } else if (int !== undefined) {
      const n = Number(int);
      if (n > 2147483647 || n < -2147483648) int32 = false;
      byStrings += gap + int;
      byAll += gap + String(rank(ints, int));
    }
  }
  const rest = text.slice(at);
  return {
    ...(strings.size > 0 ? { strings: byStrings + rest } : {}),
    ...(ints.size > 0 && int32 ? { all: byAll + rest } : {}),
  };
}

/** A document that passed by its shape: the shape, and whether its integers are ranked in it. */
export interface Shaped {
  shape: string;
  ints: boolean;
}

interface Verdict {
  /** Every string stands where any string is accepted. */
  strings: boolean;
  /** Every integer stands where any 32-bit integer is accepted, and no rule reads it. */
  ints: boolean;
}

const anyString = new Set(["String", "ID"]);
const anyInt = new Set(["Int", "Float", "ID"]);

/** A rule that reports nothing: it notes whether any literal stands where its value matters. */
function literalsAnyValue(verdict: Verdict, valueArguments: ReadonlySet<string>): ValidationRule {
  const accepts = (context: ValidationContext, names: Set<string>) => {
    const type = context.getInputType();
    const named = type ? getNamedType(type) : undefined;
    return named !== undefined && isSpecifiedScalarType(named) && names.has(named.name);
  };
  return function literalsAnyValue(context: ValidationContext) {
    return {
      StringValue() {
        if (!accepts(context, anyString)) verdict.strings = false;
      },
      IntValue() {
        const argument = context.getArgument()?.name;
        if (!accepts(context, anyInt) || (argument && valueArguments.has(argument))) {
          verdict.ints = false;
        }
      },
    };
  };
}

/**
 * One per gateway (one schema), placed after every plugin that adds validation rules: a shape's
 * verdict is kept with the names of the rules it passed, and holds only for those rules.
 * `valueArguments`: arguments whose literal values some rule reads (the cost model's pagination).
 * `shaped`: where each document that passed by a shape is noted with it (for plugins/jit.ts).
 */
export function validationShapes(
  valueArguments: readonly string[] = [],
  shaped?: WeakMap<DocumentNode, Shaped>,
): Plugin {
  const read = new Set(valueArguments);
  // Shape → the names of the rules it passed; least recently used first, for eviction.
  const passed = new Map<string, string>();
  const hit = (shape: string | undefined, rules: string) => {
    if (shape === undefined || passed.get(shape) !== rules) return false;
    passed.delete(shape);
    passed.set(shape, rules);
    return true;
  };
  return {
    onValidate({ params, addValidationRule, setResult }) {
      const rulesOf = () => params.rules?.map((rule: ValidationRule) => rule.name).join(",") ?? "";
      // A document made from its shape's tree (plugins/jit.ts) is noted with its shape already.
      const noted = shaped?.get(params.documentAST);
      if (noted !== undefined && hit(noted.shape, rulesOf())) {
        setResult([]);
        return;
      }
      const text = params.documentAST.loc?.source.body;
      if (text === undefined || text.length > maxLength) return;
      const shapes = shapesOf(text);
      if (shapes.strings === undefined && shapes.all === undefined) return;
      const rules = rulesOf();
      const document = params.documentAST;
      if (hit(shapes.all, rules)) {
        shaped?.set(document, { shape: shapes.all as string, ints: true });
        setResult([]);
        return;
      }
      if (hit(shapes.strings, rules)) {
        shaped?.set(document, { shape: shapes.strings as string, ints: false });
        setResult([]);
        return;
      }
      const verdict: Verdict = { strings: true, ints: true };
      addValidationRule(literalsAnyValue(verdict, read));
      return ({ result }) => {
        if (result.length > 0 || !verdict.strings) return;
        const ints = verdict.ints && shapes.all !== undefined;
        const shape = ints ? shapes.all : shapes.strings;
        if (shape === undefined) return;
        shaped?.set(document, { shape, ints });
        passed.set(shape, rules);
        if (passed.size > maxShapes) passed.delete(passed.keys().next().value as string);
      };
    },
  };
}
