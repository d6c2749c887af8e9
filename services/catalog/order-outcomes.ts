// How the catalog learns an order's outcome from the order service (GetOrderOutcome), so that
// the sweeper commits or releases an expired reservation on the order service's word instead
// of on a timer alone.
import http from "node:http";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { OrderOutcome, OrderService } from "../../gen/bazaar/order/v1/order_pb.js";
import { retryInterceptor } from "../../platform/http/retry.js";

export type OrderOutcomeName = "pending" | "confirmed" | "failed" | "unknown";

/** The order's outcome; rejects when the order service gave no usable answer (then: wait). */
export type OrderOutcomes = (orderId: string) => Promise<OrderOutcomeName>;

const names: Partial<Record<OrderOutcome, OrderOutcomeName>> = {
  [OrderOutcome.PENDING]: "pending",
  [OrderOutcome.CONFIRMED]: "confirmed",
  [OrderOutcome.FAILED]: "failed",
  [OrderOutcome.UNKNOWN]: "unknown",
};

/** GetOrderOutcome over `transport`, as the catalog service, each call within `timeoutMs`. */
export function orderOutcomesClient(
  transport: Transport,
  options: { token: () => Promise<string>; timeoutMs: number },
): OrderOutcomes {
  const client = createClient(OrderService, transport);
  return async (orderId) => {
    const headers = { authorization: `Bearer ${await options.token()}` };
    const { outcome } = await client.getOrderOutcome(
      { orderId },
      { headers, timeoutMs: options.timeoutMs },
    );
    const name = names[outcome];
    // An order service that does not know the enum value yet: no answer, not a decision.
    if (!name) throw new Error(`the order service answered outcome ${outcome}`);
    return name;
  };
}

/** Connect over HTTP/1.1 with keep-alive to the order service at `baseUrl`, and its closer. */
export function orderServiceTransport(baseUrl: string): {
  transport: Transport;
  close(): Promise<void>;
} {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  return {
    transport: createConnectTransport({
      baseUrl,
      httpVersion: "1.1",
      useBinaryFormat: true,
      nodeOptions: { agent },
      acceptCompression: [], // a peer on the same network: compression costs more than it saves
      // GetOrderOutcome is a read: an order replica restarting or killed costs the sweeper no pass.
      interceptors: [retryInterceptor()],
    }),
    close: async () => agent.destroy(),
  };
}
