// CreateOrder as a saga across three owners of data: this service's orders, the account
// service's accounts and the catalog's stock. No distributed transaction: each step either
// completes or is compensated, and every state is written down before the step that leaves it.
//
// An order row's states (orders.status, orders.settled):
//
//   begin ──▶ PENDING ──(items + total + status, one transaction)──▶ CONFIRMED ──CommitReservation──▶ CONFIRMED
//               │                                                   unsettled                          settled
//               │ any failure                                          ▲ recovery retries the commit
//               ▼
//             FAILED, unsettled ──ReleaseStock──▶ FAILED, settled
//             (settled at once when no reservation can exist: the reserve was refused or never asked)
//
//   PENDING older than RECOVERY_AFTER_MS (its process died mid-saga) ──recovery──▶ FAILED, unsettled ──▶ released
//
// Steps of one attempt:
//   1. The handler validated the request and the caller (service.ts).
//   2. Insert the PENDING row; its id, a UUIDv7, is also the reservation's order_id. With an
//      idempotency key, the partial unique index (account_id, idempotency_key) over rows not
//      FAILED lets exactly one concurrent duplicate in; the others wait for its outcome.
//   3. Does the account exist (BatchGetAccounts, shared by the orders that arrived together;
//      asked as the request arrives, before step 2's write), in parallel with step 4 (unknown → NOT_FOUND; what step 4 reserved is
//      released). A verified token is not enough (a service may name any account id). A yes
//      is remembered (peer-batches.ts: accounts are never deleted); a no is asked again.
//   4. ReserveStock(order_id, items): all or nothing in the catalog; its answer carries the
//      unit prices, names and descriptions the stock was taken at (the order's snapshot).
//      The orders whose step 2 landed together ask in one BatchReserveStock call, each still
//      all or nothing on its own (peer-batches.ts).
//      Refused → FAILED, settled. No answer (down, deadline) → the reservation may exist:
//      release it.
//   5. Write the items (name, description, unit price snapshot), the exact total and CONFIRMED in
//      one transaction, only if the row is still PENDING (recovery may have given up on it).
//   6. CommitReservation (shared like step 4: BatchCommitReservations), so the catalog's
//      sweeper leaves the stock sold; then settled. The customer is answered before this
//      step, as soon as step 5 made the order durable: the order stands whatever the commit
//      does, so it need not wait for two more hops (the catalog's commit, then the settled
//      mark). If the catalog is down now, or this process stops first, recovery commits later
//      (it looks at confirmed orders left unsettled), and a cancel commits first (lifecycle.ts).
//   Steps 2, 5 and the settling are group commits in the store: the orders of one turn of the
//   event loop share a statement, and so move through the saga together.
//   Any failure after step 4 releases the reservation (ReleaseStock is idempotent), then marks
//   the row FAILED; whatever fails in between, recovery finishes the job.
//
// Recovery fails abandoned PENDING orders rather than completing them: their client got no
// answer, prices may have changed since, and a retry with the same idempotency key then starts
// a fresh attempt. The catalog's expiry sweeper is the last line: a reservation nobody
// commits goes back to stock.
//
// Idempotency of FAILED attempts: a request with the key of a failed attempt starts a fresh
// attempt (a new order id, a new reservation), because most failures are worth retrying
// (a peer was down, stock was restocked). Duplicates that arrive while the first attempt is
// still PENDING wait for it and get its outcome, success or error, so a burst of retries
// reserves once.
import { type CallOptions, Code, ConnectError } from "@connectrpc/connect";
import { PreconditionFailureSchema } from "../../gen/google/rpc/error_details_pb.js";
import { uuidv7 } from "../../platform/data/ids.js";
import type { Logger } from "../../platform/observability/logger.js";
import {
  firstUnknownProduct,
  type LineItem,
  type OrderFailure,
  type PeerName,
  type PricedProduct,
  priceOrder,
} from "./domain.js";
import { PeerUnavailableError } from "./peer-transport.js";
import type { Peers } from "./peers.js";
import type { OrderAttempt, OrderRecord, OrderStore } from "./store.js";

export interface SagaDeps {
  store: OrderStore;
  peers: Peers;
  logger: Logger;
  /** How long a duplicate waits for the first attempt with its idempotency key. */
  duplicateWaitMs: number;
}

export interface PlaceOrder {
  accountId: string;
  items: LineItem[];
  idempotencyKey: string | undefined;
  requestId: string;
  /** When our caller stops waiting (epoch ms): peer calls get no more than what is left. */
  deadline?: number | undefined;
  logger?: Logger | undefined;
}

/** The order, or why it could not be placed (the handler words it for the caller). */
export type PlaceOutcome = { order: OrderRecord } | { failure: OrderFailure };

export class OrderSaga {
  constructor(private readonly deps: SagaDeps) {}

  async place(input: PlaceOrder): Promise<PlaceOutcome> {
    const { store } = this.deps;
    const log = input.logger ?? this.deps.logger;
    const call = this.deps.peers.callOptions(input.requestId, input.deadline);
    // Step 3 starts first, before any I/O of this request: the orders that arrived together
    // then share one account lookup. It writes nothing, so a duplicate only wastes a read.
    const accountChecked = this.deps.peers.accountExists(input.accountId, call).then(
      (exists): OrderFailure | undefined => (exists ? undefined : { reason: "account-not-found" }),
      (error: unknown) => peerFailure("account", error, {}),
    );
    const begun = await store.attempts.begin({
      id: uuidv7(),
      accountId: input.accountId,
      idempotencyKey: input.idempotencyKey,
    });
    if (!begun.created) return this.#outcomeOf(begun.existing);
    const orderId = begun.attempt.id;
    const { catalog } = this.deps.peers;

    // Steps 3–4 in parallel: the account check and the reservation, which answers with the
    // unit prices (and names) it took the stock at, so the catalog is asked once per order.
    const [accountFailure, reserved] = await Promise.all([
      accountChecked,
      this.deps.peers.reserveStock({ orderId, items: input.items }, call).then(
        (answer) => ({ answer }),
        (error: unknown) => ({ error }),
      ),
    ]);
    if ("error" in reserved) {
      const refused = peerFailure("catalog", reserved.error, {
        [Code.FailedPrecondition]: outOfStock,
        [Code.NotFound]: (answer) => ({
          reason: "product-not-found",
          productIds: input.items
            .map((item) => item.productId)
            .filter((id) => answer.rawMessage.includes(id)),
        }),
      });
      const failure = accountFailure ?? refused;
      // A refusal reserved nothing; no answer (unavailable, unexpected) may have reserved all.
      const settled = refused.reason === "out-of-stock" || refused.reason === "product-not-found";
      if (settled) return this.#fail(orderId, failure, true, log);
      return this.#compensate(orderId, failure, call, log);
    }
    if (accountFailure) return this.#compensate(orderId, accountFailure, call, log);
    const products = new Map<string, PricedProduct>(
      reserved.answer.products.map((p) => [
        p.productId,
        { id: p.productId, name: p.name, description: p.description, priceCents: p.unitPriceCents },
      ]),
    );
    if (firstUnknownProduct(input.items, products)) {
      // A catalog older than ReserveStock's prices: read them as before.
      try {
        const found = await catalog.batchGetProducts(
          { ids: [...new Set(input.items.map((i) => i.productId))] },
          call,
        );
        for (const p of found.products) products.set(p.id, p);
      } catch (error) {
        return this.#compensate(orderId, peerFailure("catalog", error, {}), call, log);
      }
      const unknown = firstUnknownProduct(input.items, products);
      if (unknown) {
        const failure: OrderFailure = { reason: "product-not-found", productIds: [unknown] };
        return this.#compensate(orderId, failure, call, log);
      }
    }

    // Step 5: the order is written, or the reservation goes back.
    let order: OrderRecord | undefined;
    try {
      order = await store.attempts.confirm(begun.attempt, priceOrder(input.items, products));
    } catch (error) {
      // The COMMIT may have landed though we saw an error (the connection died after it): only
      // a row still PENDING, and moved to FAILED by us first, may give its stock back.
      order = await store.orders.find(orderId).catch(() => undefined);
      if (!order) {
        log.error({ err: error, orderId }, "could not write a reserved order; releasing its stock");
        return this.#failThenRelease(orderId, { reason: "internal", cause: error }, call, log);
      }
    }
    if (!order) {
      // Recovery took the row for abandoned and released (or will release) its stock.
      await this.#release(orderId, call, log);
      return { failure: { reason: "overtaken" } };
    }

    // Step 6 after the answer: the order stands either way.
    void this.#commit(orderId, call, log);
    return { order };
  }

  /** Step 6: commit the reservation, then mark it settled; recovery retries what fails. */
  async #commit(orderId: string, call: CallOptions, log: Logger): Promise<void> {
    try {
      await this.deps.peers.commitReservation(orderId, call);
      await this.deps.store.attempts.markSettled(orderId);
    } catch (error) {
      log.warn({ err: error, orderId }, "reservation not committed yet; recovery will retry");
    }
  }

  /**
   * Marks the row failed if it is still pending, and only then releases its stock. When the
   * row cannot be read or moved, recovery decides: a PENDING row is failed once abandoned and
   * released, a CONFIRMED one committed.
   */
  async #failThenRelease(
    orderId: string,
    failure: OrderFailure,
    call: CallOptions,
    log: Logger,
  ): Promise<PlaceOutcome> {
    const failed = await this.deps.store.attempts
      .fail(orderId, failure, false)
      .catch((error: unknown) => {
        log.error({ err: error, orderId }, "could not mark an order failed");
        return false;
      });
    if (failed && (await this.#release(orderId, call, log))) {
      await this.deps.store.attempts.markSettled(orderId).catch(() => {});
    }
    return { failure };
  }

  /** Releases the reservation, then marks the row failed; either may be left to recovery. */
  async #compensate(
    orderId: string,
    failure: OrderFailure,
    call: CallOptions,
    log: Logger,
  ): Promise<PlaceOutcome> {
    const released = await this.#release(orderId, call, log);
    return this.#fail(orderId, failure, released, log);
  }

  /**
   * True once the catalog has put the stock back. "No such reservation" is not proof: a reserve
   * whose answer we missed may still be committing in the catalog, so recovery asks again later.
   */
  async #release(orderId: string, call: CallOptions, log: Logger): Promise<boolean> {
    try {
      await this.deps.peers.catalog.releaseStock({ orderId }, call);
      return true;
    } catch (error) {
      if (ConnectError.from(error).code !== Code.NotFound) {
        log.warn({ err: error, orderId }, "could not release a reservation; recovery will retry");
      }
      return false;
    }
  }

  /** Marks the row failed (`settled`: no reservation can exist) and answers the failure. */
  async #fail(
    orderId: string,
    failure: OrderFailure,
    settled: boolean,
    log: Logger,
  ): Promise<PlaceOutcome> {
    try {
      await this.deps.store.attempts.fail(orderId, failure, settled);
    } catch (error) {
      // The row stays PENDING: recovery fails it later and releases whatever it holds.
      log.error({ err: error, orderId }, "could not mark an order failed");
    }
    return { failure };
  }

  /** A duplicate's answer: the first attempt's order, or its failure once it failed. */
  async #outcomeOf(first: OrderAttempt): Promise<PlaceOutcome> {
    const deadline = Date.now() + this.deps.duplicateWaitMs;
    let attempt: OrderAttempt | undefined = first;
    for (let pause = 10; attempt?.status === "pending"; pause = Math.min(pause * 2, 100)) {
      if (Date.now() >= deadline) return { failure: { reason: "still-placing" } };
      await new Promise((resolve) => setTimeout(resolve, pause));
      attempt = await this.deps.store.attempts.findAttempt(first.id);
    }
    if (attempt?.status === "confirmed") {
      const order = await this.deps.store.orders.find(first.id);
      if (order) return { order };
    }
    return { failure: attempt?.failure ?? { reason: "internal" } };
  }
}

/**
 * The one reading of a failed peer call for the saga. No answer (the peers' transport made it a
 * PeerUnavailableError) is worth retrying later; `expected` reads the answers this step knows;
 * anything else is our bug or misconfiguration (a rejected service token, say).
 */
function peerFailure(
  peer: PeerName,
  error: unknown,
  expected: Partial<Record<Code, (answer: ConnectError) => OrderFailure>>,
): OrderFailure {
  if (error instanceof PeerUnavailableError) {
    return {
      reason: "peer-unavailable",
      peer: error.peer,
      timedOut: error.timedOut,
      cause: error.cause,
    };
  }
  const answer = ConnectError.from(error);
  const read = expected[answer.code];
  if (read) return read(answer);
  return {
    reason: "internal",
    cause: new Error(`unexpected answer from the ${peer} service`, { cause: error }),
  };
}

/** FAILED_PRECONDITION from ReserveStock: the product it names as short, in its words. */
function outOfStock(answer: ConnectError): OrderFailure {
  const violation = answer
    .findDetails(PreconditionFailureSchema)
    .flatMap((detail) => detail.violations)
    .find((v) => v.type === "STOCK");
  return {
    reason: "out-of-stock",
    productId: violation?.subject,
    description: violation?.description,
  };
}
