// The gateway's configuration, from the environment: where the services are, how to reach
// them, and the limits that protect them from expensive queries.
import * as v from "valibot";
import {
  described,
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
  ACCOUNT_URL: described(peerUrlVar(localUrl("account")), "where the account service is"),
  CATALOG_URL: described(peerUrlVar(localUrl("catalog")), "where the catalog service is"),
  ORDER_URL: described(peerUrlVar(localUrl("order")), "where the order service is"),
  // As on the services (platform/config.ts corsOrigins).
  CORS_ORIGINS: described(
    optionalVar(v.string()),
    "comma-separated browser origins allowed to call it, e.g. `https://shop.example.com`",
    "any `localhost` origin (none in production)",
  ),
  // Connect over HTTP/1.1 keep-alive measured 1.5× the throughput of gRPC/h2c through the
  // gateway (`npm run bench:gateway`: 1,224 vs 794 req/s); gRPC stays available. Connect over
  // h2c costs the gateway and the services less CPU still (docs/performance.md), but its one
  // connection per service defeats a balancer that spreads connections over replicas.
  BACKEND_PROTOCOL: described(
    v.optional(
      v.picklist(["connect", "connect-h2", "grpc"], "must be connect, connect-h2 or grpc"),
      "connect",
    ),
    "how it calls the services: `connect` (binary Connect over HTTP/1.1 keep-alive), `connect-h2` (binary Connect over one h2c connection per service: less CPU, but a balancer in front of replicas sends it all to one) or `grpc` (h2c)",
  ),
  BACKEND_TIMEOUT_MS: described(
    intVar(5_000, 100, 120_000),
    "the budget of one GraphQL request: each call to a service gets the time left as its deadline; a miss is `UNAVAILABLE`",
  ),
  // Enough for the gateway's concurrency on a small machine.
  BACKEND_MAX_SOCKETS: described(intVar(64, 1, 10_000), "keep-alive sockets per service"),
  GRAPHQL_INTROSPECTION: described(
    optionalBoolVar(),
    "schema introspection (GraphiQL's Docs pane needs it)",
    "on, off in production",
  ),
  GRAPHQL_MAX_DEPTH: described(
    intVar(10, 1, 100),
    "nesting depth of fields (GraphQL Armor; `__schema` not counted)",
  ),
  GRAPHQL_MAX_COST: described(
    intVar(50_000, 1, 10_000_000),
    "highest estimated cost accepted (the cost model: [gateway/README.md](../gateway/README.md))",
  ),
  // Counted while parsing, so a giant document is refused before anything else reads it.
  GRAPHQL_MAX_TOKENS: described(
    intVar(2_000, 100, 1_000_000),
    "tokens in a document, counted while parsing (GraphQL Armor)",
  ),
  // graphql-js's overlapping-fields validation is quadratic in repeated fields: 300 keep it
  // to milliseconds, and GraphiQL's schema query writes 72.
  GRAPHQL_MAX_FIELDS: described(intVar(300, 10, 100_000), "fields written in a document"),
  GRAPHQL_MAX_ALIASES: described(
    intVar(30, 0, 100_000),
    "aliases per document, `__typename` ones included (GraphQL Armor)",
  ),
  GRAPHQL_MAX_DIRECTIVES: described(
    intVar(20, 0, 100_000),
    "directives per document (GraphQL Armor)",
  ),
  // Each sign-up or login is an argon2 hash (~10 ms of a service's CPU).
  GRAPHQL_MAX_ROOT_MUTATIONS: described(
    intVar(5, 1, 1_000),
    "root mutation fields in one operation, fragments expanded",
  ),
  MAX_BODY_BYTES: described(
    intVar(1024 * 1024, 1024, 64 * 1024 * 1024),
    "largest request body; larger gets 413",
  ),
  // Each tick is one write per stockChanged subscriber with a change: it bounds the gateway's
  // writes per subscriber per second, and adds up to this much latency (docs/live.md).
  LIVE_TICK_MS: described(
    intVar(50, 0, 5_000),
    "stockChanged subscribers are sent changes at most this often (stock coalesces between)",
  ),
  // A batch is a socket write (~15 µs of the gateway's CPU, most of it the kernel's, and as
  // much again for the reader on the same host: docs/live.md): 10,000 a second is about 0.15 of
  // a core. Past it, ticks stretch: more latency, not more CPU. Raise it where the gateway has
  // cores of its own.
  LIVE_BATCHES_PER_SECOND: described(
    intVar(10_000, 1, 10_000_000),
    "stockChanged batches sent per second at most, over all subscribers; past it LIVE_TICK_MS stretches",
  ),
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
