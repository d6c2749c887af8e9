// How deep a document's brackets nest, checked before graphql-js's recursive parser runs.
import { GraphQLError, Lexer, Source, TokenKind } from "graphql";

/**
 * Refuses a document whose brackets nest deeper than `maxNesting` before graphql-js's
 * recursive parser sees it (10,000 nested list brackets overflow its stack). graphql-js's own
 * lexer reads the tokens, iteratively; past `maxTokens` it stops and leaves the refusal to the
 * token limit.
 */
export function checkNesting(source: string, maxNesting: number, maxTokens: number): void {
  const lexer = new Lexer(new Source(source));
  let depth = 0;
  for (let tokens = 0; tokens <= maxTokens; tokens++) {
    const token = lexer.advance();
    if (token.kind === TokenKind.EOF) return;
    if (opening.has(token.kind)) depth++;
    else if (closing.has(token.kind)) depth--;
    if (depth > maxNesting) {
      throw new GraphQLError(`Syntax Error: brackets nest deeper than the limit of ${maxNesting}`, {
        extensions: { http: { status: 400 } },
      });
    }
  }
}

const opening = new Set<string>([TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L]);
const closing = new Set<string>([TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R]);
