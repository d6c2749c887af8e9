// The validation rules that keep one query from costing the services too much (limits.ts), and
// introspection off where configured.
import { NoSchemaIntrospectionCustomRule } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { GatewayConfig } from "../config.js";
import { maxTake } from "../context.js";
import { costLimitRule, depthLimitRule } from "../limits.js";

export function limits(config: GatewayConfig): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(depthLimitRule(config.GRAPHQL_MAX_DEPTH));
      addValidationRule(costLimitRule(config.GRAPHQL_MAX_COST, maxTake));
      if (!config.GRAPHQL_INTROSPECTION) addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}
