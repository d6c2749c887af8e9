// Connect clients to the three services, from the generated code. Transports are made here from
// the config, or handed in (tests pass in-memory or counting transports).
import http from "node:http";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AccountService } from "../gen/bazaar/account/v1/account_pb.js";
import { CatalogService } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { type CreateOrderRequest, OrderService } from "../gen/bazaar/order/v1/order_pb.js";
import { declaredIdempotent, retryInterceptor } from "../platform/http/retry.js";
import { tracingClientInterceptor } from "../platform/observability/tracing.js";
import type { GatewayConfig } from "./config.js";
import { createUnaryConnectTransport } from "./connect-transport.js";
import { http1Post } from "./http-client.js";
import { http2Post } from "./http2-client.js";
import { shareIdenticalReads } from "./shared-reads.js";

export type ServiceName = "account" | "catalog" | "order";

export interface Transports {
  account: Transport;
  catalog: Transport;
  order: Transport;
}

export interface Backends {
  account: Client<typeof AccountService>;
  catalog: Client<typeof CatalogService>;
  order: Client<typeof OrderService>;
}

/**
 * Which calls the gateway may send twice: those the contract declares idempotent, and an order
 * carrying an idempotency key (the order service answers a repeat with the same order). Any
 * call is sent again when it provably never left (platform/http/retry.ts): with replicas, that
 * is what carries a request past one being restarted or killed.
 */
export const retryBackendCalls: Interceptor = retryInterceptor({
  repeatable: (req) =>
    declaredIdempotent(req.method) ||
    (req.method === OrderService.method.createOrder &&
      (req.message as CreateOrderRequest).idempotencyKey !== ""),
});

export function backendUrls(config: GatewayConfig): Record<ServiceName, string> {
  return { account: config.ACCOUNT_URL, catalog: config.CATALOG_URL, order: config.ORDER_URL };
}

/**
 * One transport per service. Connect uses binary protobuf over HTTP/1.1 with a keep-alive agent
 * per service (no per-call connection setup), or with `connect-h2` over one h2c session per
 * service (http2-client.ts); gRPC uses one h2c session per service.
 */
export function createTransports(
  config: GatewayConfig,
  interceptors: Interceptor[] = [],
): { transports: Transports; close(): void } {
  const urls = backendUrls(config);
  const agents: http.Agent[] = [];
  const h2 = config.BACKEND_PROTOCOL === "connect-h2" ? http2Post() : undefined;
  const make = (baseUrl: string): Transport => {
    if (config.BACKEND_PROTOCOL === "grpc") {
      return createGrpcTransport({
        baseUrl,
        interceptors: [tracingClientInterceptor(), retryBackendCalls, ...interceptors],
        acceptCompression: [],
      });
    }
    const agent = new http.Agent({
      keepAlive: true,
      maxSockets: config.BACKEND_MAX_SOCKETS,
      maxFreeSockets: config.BACKEND_MAX_SOCKETS,
      // Below the services' 5 s keep-alive timeout, so we never reuse a socket they are closing.
      timeout: 4_000,
    });
    agents.push(agent);
    // Binary Connect without compression: on a local network compression costs both ends more
    // CPU than it saves (connect-node's transport asked for gzip/br, and a 20-product list came
    // back gzipped). The transport and its one-write client: connect-transport.ts.
    return createUnaryConnectTransport({
      baseUrl,
      post: h2 ? h2.post : http1Post(agent),
      interceptors: [tracingClientInterceptor(), retryBackendCalls, ...interceptors],
    });
  };
  return {
    transports: {
      account: make(urls.account),
      catalog: make(urls.catalog),
      order: make(urls.order),
    },
    close: () => {
      for (const agent of agents) agent.destroy();
      h2?.close();
    },
  };
}

/** Clients over the transports, identical reads of one turn sharing a call (shared-reads.ts). */
export function createBackends(transports: Transports): Backends {
  return {
    account: createClient(AccountService, shareIdenticalReads(transports.account)),
    catalog: createClient(CatalogService, shareIdenticalReads(transports.catalog)),
    order: createClient(OrderService, shareIdenticalReads(transports.order)),
  };
}
