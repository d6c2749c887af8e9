// The order feed: WatchOrders with each subscriber's own token, one upstream stream per
// subscriber. The gateway holds no identity of its own that could watch several accounts'
// orders on one stream (the contract: it holds no signing material), so nothing is shared.
// Each event carries the upstream update's own cursor (one stream, in order): SSE's
// Last-Event-ID resumes there, at any gateway.
import { type CallOptions, type Client, Code, ConnectError } from "@connectrpc/connect";
import { Repeater } from "graphql-yoga";
import type { Order, OrderService } from "../../gen/bazaar/order/v1/order_pb.js";
import type { Logger } from "../../platform/observability/logger.js";

const retryMinMs = 100;
const retryMaxMs = 5_000;

/** An orderUpdated event: the order, and the cursor to resume from once the client has it. */
export interface OrderEvent {
  order: Order;
  resumeCursor: string | undefined;
}

/**
 * One subscriber's orders, with its own credentials: first each as it is, then each change;
 * resumed from the last cursor when the order service restarts. Refusals (NOT_FOUND,
 * UNAUTHENTICATED) end it with that error.
 */
export function watchOrders(
  order: Client<typeof OrderService>,
  ids: readonly string[],
  call: () => CallOptions,
  logger: Logger,
  closing: AbortSignal,
  resumeFrom = "",
): AsyncIterableIterator<OrderEvent> {
  return new Repeater<OrderEvent>(async (push, stop) => {
    const abort = new AbortController();
    void stop.then(() => abort.abort());
    const onClose = () => stop();
    closing.addEventListener("abort", onClose);
    void stop.then(() => closing.removeEventListener("abort", onClose));
    if (closing.aborted) stop();
    let cursor = resumeFrom;
    let delayMs = retryMinMs;
    while (!abort.signal.aborted) {
      try {
        const options = { ...call(), signal: abort.signal };
        for await (const res of order.watchOrders({ orderIds: [...ids], cursor }, options)) {
          delayMs = retryMinMs;
          if (!res.update?.order) continue; // a heartbeat
          // Only the last of a snapshot's states has a cursor; the others start afresh.
          if (res.update.cursor !== "") cursor = res.update.cursor;
          await push({ order: res.update.order, resumeCursor: res.update.cursor || undefined });
        }
      } catch (error) {
        if (abort.signal.aborted) break;
        const code = ConnectError.from(error).code;
        if (code !== Code.Unavailable && code !== Code.Internal && code !== Code.Unknown) {
          stop(error);
          break;
        }
        logger.debug({ err: error }, "order feed interrupted; resuming from its cursor");
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
      delayMs = Math.min(retryMaxMs, delayMs * 2);
    }
  });
}
