// The limits that keep one request from costing the gateway or the services too much. GraphQL
// Armor counts tokens while parsing (a giant document never reaches validation), and the depth,
// aliases and directives of each operation; limits.ts adds what Armor cannot express: bracket
// nesting, fields written, root mutations per operation, and our cost model. Every refusal is a 400 whose
// message names the limit.
import { maxAliasesPlugin } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthPlugin } from "@escape.tech/graphql-armor-max-depth";
import { maxDirectivesPlugin } from "@escape.tech/graphql-armor-max-directives";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import {
  type GraphQLError,
  NoSchemaIntrospectionCustomRule,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import type { GatewayConfig } from "../config.js";
import { maxTake } from "../context.js";
import { fieldCountRule, limitError, operationLimitsRule } from "../limits.js";
import { checkNesting } from "../nesting.js";
import type { GatewayMetrics } from "../observability.js";

/**
 * Armor's validation plugins throw their refusal, which skips the rest of validation and
 * reaches the caller as "Syntax Error: …"; reported instead, it is a 400 like any other.
 */
const report = {
  propagateOnRejection: false,
  onReject: [
    (context: ValidationContext | null, error: GraphQLError) => {
      context?.reportError(limitError(error.message.replace(/^Syntax Error: /, "")));
    },
  ],
};

// Deeper than any real query (GraphiQL's schema query nests 15), far below what overflows the
// parser's stack.
const maxNesting = 64;

export function limits(config: GatewayConfig, metrics: GatewayMetrics): Plugin[] {
  const rules = (...added: ValidationRule[]): Plugin => ({
    onValidate({ addValidationRule }) {
      for (const rule of added) addValidationRule(rule);
    },
  });
  return [
    maxTokensPlugin({ n: config.GRAPHQL_MAX_TOKENS }),
    {
      // Runs Armor's token-counting parser, once the nesting is known to be safe for it.
      onParse({ parseFn, setParseFn }) {
        setParseFn((source, options) => {
          checkNesting(
            String(typeof source === "string" ? source : source.body),
            maxNesting,
            config.GRAPHQL_MAX_TOKENS,
          );
          return parseFn(source, options);
        });
      },
    },
    // First, so a document with too many fields stops validation before anything else.
    rules(fieldCountRule(config.GRAPHQL_MAX_FIELDS, () => metrics.validations.inc())),
    maxDepthPlugin({ n: config.GRAPHQL_MAX_DEPTH, flattenFragments: true, ...report }),
    maxAliasesPlugin({ n: config.GRAPHQL_MAX_ALIASES, allowList: [], ...report }),
    maxDirectivesPlugin({ n: config.GRAPHQL_MAX_DIRECTIVES, ...report }),
    rules(
      operationLimitsRule({
        maxCost: config.GRAPHQL_MAX_COST,
        maxTake,
        maxRootMutations: config.GRAPHQL_MAX_ROOT_MUTATIONS,
        maxDepth: config.GRAPHQL_MAX_DEPTH,
      }),
      ...(config.GRAPHQL_INTROSPECTION ? [] : [NoSchemaIntrospectionCustomRule]),
    ),
  ];
}
