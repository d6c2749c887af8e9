// Validation by shape: a document that passed validation is remembered by its shape (its text with
// each string literal replaced by the rank of its value's first appearance), so that documents
// differing only in their strings (an idempotency key or an id written inline, as clients do) are
// validated once, not once each. Yoga's own cache is keyed by the exact text: every such
// document missed it, and validating a fresh two-field mutation cost more than executing it.
//
// Why a shape's verdict holds for every document of that shape: the text outside the strings is
// the same (tokens, names, integers, comments), and so is which strings equal which (the
// overlapping-fields rule compares arguments). A string's own value matters only where its type
// parses literals by value (DateTime, enums): a shape is remembered only when each of its strings
// stands where a String or an ID goes, which accept any string, and only when it passed, so every
// refusal is made, and worded, by validation itself. Strings with escapes and block strings
// (whose equal values can be written differently) are left to ordinary validation.
import {
  getNamedType,
  isSpecifiedScalarType,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import type { Plugin } from "graphql-yoga";

/** Shapes remembered, and the longest document looked at: enough for clients' real mutations. */
export const maxShapes = 1000;
const maxLength = 8 * 1024;

/**
 * `text` with each plain string literal written as the rank of its value ("0", "1", "0" …), or
 * undefined when it has no strings, or one with an escape, or a block string. The text is a
 * document that parsed, so a `"` outside a comment opens a string and `#` outside a string a
 * comment.
 */
export function shapeOf(text: string): string | undefined {
  const ranks = new Map<string, number>();
  let plain = true;
  const shape = text.replace(/#[^\n\r]*|"""|"([^"\\\n\r]*)"|"/g, (token, value?: string) => {
    if (token.startsWith("#")) return token;
    if (value === undefined) {
      plain = false;
      return token;
    }
    let rank = ranks.get(value);
    if (rank === undefined) {
      rank = ranks.size;
      ranks.set(value, rank);
    }
    return `"${rank}"`;
  });
  return plain && ranks.size > 0 ? shape : undefined;
}

/** A rule that reports nothing: it notes whether any string stands where its value matters. */
function stringsAnyValue(verdict: { any: boolean }): ValidationRule {
  return function stringsAnyValue(context: ValidationContext) {
    return {
      StringValue() {
        const type = context.getInputType();
        const named = type ? getNamedType(type) : undefined;
        if (!named || !isSpecifiedScalarType(named) || !["String", "ID"].includes(named.name)) {
          verdict.any = false;
        }
      },
    };
  };
}

/**
 * One per gateway (one schema), placed after every plugin that adds validation rules: a shape's
 * verdict is kept with the names of the rules it passed, and holds only for those rules.
 */
export function validationShapes(): Plugin {
  // Shape → the names of the rules it passed; least recently used first, for eviction.
  const passed = new Map<string, string>();
  return {
    onValidate({ params, addValidationRule, setResult }) {
      const text = params.documentAST.loc?.source.body;
      if (text === undefined || text.length > maxLength) return;
      const shape = shapeOf(text);
      if (shape === undefined) return;
      const rules = params.rules?.map((rule: ValidationRule) => rule.name).join(",") ?? "";
      if (passed.get(shape) === rules) {
        passed.delete(shape);
        passed.set(shape, rules);
        setResult([]);
        return;
      }
      const verdict = { any: true };
      addValidationRule(stringsAnyValue(verdict));
      return ({ result }) => {
        if (result.length > 0 || !verdict.any) return;
        passed.set(shape, rules);
        if (passed.size > maxShapes) passed.delete(passed.keys().next().value as string);
      };
    },
  };
}
