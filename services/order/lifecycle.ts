// A placed order's life after checkout: cancelling it (with its stock given back to the
// catalog exactly once) and shipping it. The order service decides; the catalog only carries
// out what it is told, like the saga's commits and releases (saga.ts).
//
// Cancelling, across two databases without a distributed transaction:
//   1. One transaction here: PLACED → CANCELLED and return_pending = true (store/fulfilment.ts).
//      Its conditional update decides a race with ShipOrder: exactly one of them changes the
//      row, the other finds it changed and is refused with the status it found.
//   2. If the order's reservation commit has not reached the catalog yet (settled = false):
//      CommitReservation first (idempotent), since the catalog returns only what was committed.
//   3. ReturnStock(order id): the catalog puts the reservation's items back and marks it
//      RETURNED, once, however often it is asked.
//   4. return_pending = false.
// Any failure after step 1 leaves return_pending set: the order stays cancelled, and recovery
// (recovery.ts) repeats steps 2–4 until the catalog has answered. GetOrderOutcome keeps
// answering CONFIRMED for a cancelled order (its saga did confirm), so the catalog's sweeper
// commits, never releases, a reservation that a return will give back: never both.
import { type CallOptions, Code, ConnectError } from "@connectrpc/connect";
import { type Caller, mayActFor } from "../../platform/auth/auth.js";
import type { Logger } from "../../platform/observability/logger.js";
import { type Fulfilment, type OrderAction, unchangedAnswer } from "./domain.js";
import type { Peers } from "./peers.js";
import type { OrderRecord, OrderStore } from "./store.js";

export interface LifecycleDeps {
  store: OrderStore;
  peers: Peers;
  logger: Logger;
}

/** The order after a cancel or ship, or why there is none to show. */
export type TransitionOutcome =
  | { order: OrderRecord }
  /** No placed order with this id that the caller may see. */
  | { notFound: true }
  /** The order ended otherwise (`now`): a shipped one cannot be cancelled, and back. */
  | { refused: Fulfilment };

export interface CancelOrder {
  id: string;
  reason: string | null;
  caller: Exclude<Caller, { kind: "anonymous" }>;
  call: CallOptions;
  logger?: Logger | undefined;
}

export class OrderLifecycle {
  constructor(private readonly deps: LifecycleDeps) {}

  async cancel(input: CancelOrder): Promise<TransitionOutcome> {
    const { caller } = input;
    // A customer's cancel changes only their own order; an admin's (or a service's) any.
    const ownerId =
      caller.kind === "user" && caller.role !== "admin" ? caller.accountId : undefined;
    const transition = await this.deps.store.fulfilment.cancel(input.id, {
      reason: input.reason,
      ownerId,
    });
    if (!transition || !mayActFor(caller, transition.order.accountId)) return { notFound: true };
    if (!transition.changed) return settledAnswer("cancel", transition.order);
    const log = input.logger ?? this.deps.logger;
    try {
      await returnStock(this.deps, { id: input.id, settled: transition.settled }, input.call, log);
    } catch (error) {
      // The cancel stands: recovery gives the stock back once the catalog answers.
      log.warn({ err: error, orderId: input.id }, "stock of a cancelled order not returned yet");
    }
    return { order: transition.order };
  }

  /** PLACED → SHIPPED; the caller was checked to be an admin. */
  async ship(id: string): Promise<TransitionOutcome> {
    const transition = await this.deps.store.fulfilment.ship(id);
    if (!transition) return { notFound: true };
    if (!transition.changed) return settledAnswer("ship", transition.order);
    return { order: transition.order };
  }
}

/** A cancel or ship that changed nothing: the order unchanged, or the refusal. */
function settledAnswer(asked: OrderAction, order: OrderRecord): TransitionOutcome {
  const answer = unchangedAnswer(asked, order.fulfilment);
  return "refused" in answer ? answer : { order };
}

/**
 * Steps 2–4 of a cancel for `order`: commit its reservation if that never reached the catalog,
 * return its stock, clear the marker. Throws when the catalog gave no answer worth settling on
 * (the marker stays, for the next try). Safe to repeat, and to run in several processes at
 * once: the catalog returns a reservation once, and a late commit of a returned one is a no-op.
 */
export async function returnStock(
  deps: LifecycleDeps,
  order: { id: string; settled: boolean },
  call: CallOptions,
  log: Logger,
): Promise<void> {
  const { store, peers } = deps;
  const orderId = order.id;
  if (!order.settled) {
    if (!(await commit(peers, orderId, call))) {
      // Released already (only a commit delayed past the reservation's TTL finds that): the
      // stock is back on the shelf, and nothing is left to return.
      await store.fulfilment.markReturned(orderId);
      return;
    }
    await store.attempts.markSettled(orderId);
  }
  try {
    await peers.catalog.returnStock({ orderId }, call);
  } catch (error) {
    const code = ConnectError.from(error).code;
    if (code === Code.FailedPrecondition) {
      // Not committed (our settled flag was behind the catalog) or released: commit, and
      // return what the commit left committed.
      if (await commit(peers, orderId, call)) await peers.catalog.returnStock({ orderId }, call);
    } else if (code === Code.NotFound) {
      // A confirmed order always had a reservation: this catalog never took its stock.
      log.error({ orderId }, "a cancelled order had no reservation in the catalog");
    } else {
      throw error;
    }
  }
  await store.fulfilment.markReturned(orderId);
}

/** CommitReservation; false when the catalog refused because it had released it. */
async function commit(peers: Peers, orderId: string, call: CallOptions): Promise<boolean> {
  try {
    await peers.commitReservation(orderId, call);
    return true;
  } catch (error) {
    if (ConnectError.from(error).code !== Code.FailedPrecondition) throw error;
    return false;
  }
}
