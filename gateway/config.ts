// The gateway's configuration, from the environment: where the services are, how to reach
// them, and the limits that protect them from expensive queries.
import * as v from "valibot";
import {
  intVar,
  optionalBoolVar,
  optionalVar,
  parseEnv,
  peerUrlVar,
  processEntries,
} from "../platform/config.js";
import { localUrl, processes } from "../platform/processes.js";

export const schema = v.object({
  ...processEntries(processes.gateway.port),
  ACCOUNT_URL: peerUrlVar(localUrl("account")),
  CATALOG_URL: peerUrlVar(localUrl("catalog")),
  ORDER_URL: peerUrlVar(localUrl("order")),
  // Browser origins allowed to call /graphql, as on the services (platform/config.ts corsOrigins).
  CORS_ORIGINS: optionalVar(v.string()),
  // Connect over HTTP/1.1 keep-alive measured 1.5× the throughput of gRPC/h2c through the
  // gateway (`npm run bench:gateway`: 1,224 vs 794 req/s); gRPC stays available.
  BACKEND_PROTOCOL: v.optional(
    v.picklist(["connect", "grpc"], "must be connect or grpc"),
    "connect",
  ),
  BACKEND_TIMEOUT_MS: intVar(5_000, 100, 120_000),
  // Sockets kept open per service; enough for the gateway's concurrency on a small machine.
  BACKEND_MAX_SOCKETS: intVar(64, 1, 10_000),
  // Unset: on outside production, off in production.
  GRAPHQL_INTROSPECTION: optionalBoolVar(),
  GRAPHQL_MAX_DEPTH: intVar(10, 1, 100),
  GRAPHQL_MAX_COST: intVar(50_000, 1, 10_000_000),
  // Counted while parsing, so a giant document is refused before anything else reads it.
  GRAPHQL_MAX_TOKENS: intVar(2_000, 100, 1_000_000),
  // graphql-js's overlapping-fields validation is quadratic in repeated fields: 300 keep it
  // to milliseconds, and GraphiQL's schema query writes 72.
  GRAPHQL_MAX_FIELDS: intVar(300, 10, 100_000),
  GRAPHQL_MAX_ALIASES: intVar(30, 0, 100_000),
  GRAPHQL_MAX_DIRECTIVES: intVar(20, 0, 100_000),
  // Each sign-up or login is an argon2 hash (~10 ms of a service's CPU).
  GRAPHQL_MAX_ROOT_MUTATIONS: intVar(5, 1, 1_000),
  MAX_BODY_BYTES: intVar(1024 * 1024, 1024, 64 * 1024 * 1024),
});

type Parsed = v.InferOutput<typeof schema>;

export type GatewayConfig = Omit<Parsed, "GRAPHQL_INTROSPECTION"> & {
  GRAPHQL_INTROSPECTION: boolean;
};

export function loadGatewayConfig(
  env: Record<string, string | undefined> = process.env,
): GatewayConfig {
  const parsed = parseEnv(schema, env);
  return {
    ...parsed,
    GRAPHQL_INTROSPECTION: parsed.GRAPHQL_INTROSPECTION ?? parsed.NODE_ENV !== "production",
  };
}
