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
//   3. GetAccount and BatchGetProducts, in parallel (unknown → NOT_FOUND; FAILED, settled).
//   4. ReserveStock(order_id, items): all or nothing in the catalog. Refused → FAILED, settled.
//      No answer (down, deadline) → the reservation may exist: release it.
//   5. Write the items (name, description, unit price snapshot), the exact total and CONFIRMED in
//      one transaction, only if the row is still PENDING (recovery may have given up on it).
//   6. CommitReservation, so the catalog's sweeper leaves the stock sold; then settled. If the
//      catalog is down now, the order stands and recovery commits later.
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
import { create } from "@bufbuild/protobuf";
import { type CallOptions, Code, ConnectError } from "@connectrpc/connect";
import {
  type PreconditionFailure,
  PreconditionFailureSchema,
} from "../../gen/google/rpc/error_details_pb.js";
import { uuidv7 } from "../../platform/ids.js";
import type { Logger } from "../../platform/logger.js";
import { firstUnknownProduct, type LineItem, type PricedProduct, priceOrder } from "./domain.js";
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
  logger?: Logger | undefined;
}

/** Why an attempt failed, as remembered on its row for duplicates waiting on it. */
interface Failure {
  error: ConnectError;
  /** True when no reservation can exist: nothing to release. */
  settled: boolean;
  productId?: string;
}

export class OrderSaga {
  constructor(private readonly deps: SagaDeps) {}

  async place(input: PlaceOrder): Promise<OrderRecord> {
    const { store } = this.deps;
    const log = input.logger ?? this.deps.logger;
    const begun = await store.begin({
      id: uuidv7(),
      accountId: input.accountId,
      idempotencyKey: input.idempotencyKey,
    });
    if (!begun.created) return this.#outcomeOf(begun.existing);
    const orderId = begun.attempt.id;
    const call = this.deps.peers.callOptions(input.requestId);
    const { account, catalog } = this.deps.peers;

    // Step 3: nothing is reserved yet, so a failure only marks the row.
    let products: Map<string, PricedProduct>;
    try {
      const [, found] = await Promise.all([
        account.getAccount({ id: input.accountId }, call).catch((error: unknown) => {
          throw peerAnswer("account", error, {
            [Code.NotFound]: () =>
              new ConnectError(`account ${input.accountId} not found`, Code.NotFound),
          });
        }),
        catalog
          .batchGetProducts({ ids: input.items.map((item) => item.productId) }, call)
          .catch((error: unknown) => {
            throw peerAnswer("catalog", error, {});
          }),
      ]);
      products = new Map(found.products.map((p) => [p.id, p]));
      const unknown = firstUnknownProduct(input.items, products);
      if (unknown) throw new ConnectError(`product ${unknown} not found`, Code.NotFound);
    } catch (error) {
      await this.#fail(orderId, { error: ConnectError.from(error), settled: true }, log);
      throw error;
    }

    // Step 4: reserve. A refusal reserved nothing; no answer may have reserved everything.
    try {
      await catalog.reserveStock({ orderId, items: input.items }, call);
    } catch (error) {
      const failure = reserveFailure(error);
      if (failure.settled) await this.#fail(orderId, failure, log);
      else await this.#compensate(orderId, failure, call, log);
      throw failure.error;
    }

    // Step 5: the order is written, or the reservation goes back.
    let order: OrderRecord | undefined;
    try {
      order = await store.confirm(orderId, priceOrder(input.items, products));
    } catch (error) {
      log.error({ err: error, orderId }, "could not write a reserved order; releasing its stock");
      await this.#compensate(
        orderId,
        { error: new ConnectError("internal error", Code.Internal), settled: false },
        call,
        log,
      );
      throw error;
    }
    if (!order) {
      // Recovery took the row for abandoned and released (or will release) its stock.
      await this.#release(orderId, call, log);
      throw new ConnectError("placing the order took too long; try again", Code.Unavailable);
    }

    // Step 6: commit. The order stands either way; recovery retries a commit that failed.
    try {
      await catalog.commitReservation({ orderId }, call);
      await store.markSettled(orderId);
    } catch (error) {
      log.warn({ err: error, orderId }, "reservation not committed yet; recovery will retry");
    }
    return order;
  }

  /** Releases the reservation, then marks the row failed; either may be left to recovery. */
  async #compensate(
    orderId: string,
    failure: Failure,
    call: CallOptions,
    log: Logger,
  ): Promise<void> {
    const released = await this.#release(orderId, call, log);
    await this.#fail(orderId, { ...failure, settled: released }, log);
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

  async #fail(orderId: string, failure: Failure, log: Logger): Promise<void> {
    try {
      await this.deps.store.fail(orderId, {
        code: Code[failure.error.code],
        message: failure.error.rawMessage,
        productId: failure.productId,
        settled: failure.settled,
      });
    } catch (error) {
      // The row stays PENDING: recovery fails it later and releases whatever it holds.
      log.error({ err: error, orderId }, "could not mark an order failed");
    }
  }

  /** A duplicate's answer: the first attempt's order, or its error once it failed. */
  async #outcomeOf(first: OrderAttempt): Promise<OrderRecord> {
    const deadline = Date.now() + this.deps.duplicateWaitMs;
    let attempt: OrderAttempt | undefined = first;
    for (let pause = 10; attempt?.status === "pending"; pause = Math.min(pause * 2, 100)) {
      if (Date.now() >= deadline) {
        throw new ConnectError(
          "an order with this idempotency key is still being placed; try again shortly",
          Code.Unavailable,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      attempt = await this.deps.store.findAttempt(first.id);
    }
    if (attempt?.status === "confirmed") {
      const order = await this.deps.store.findConfirmed(first.id);
      if (order) return order;
    }
    throw remembered(attempt);
  }
}

/**
 * A peer's error for our caller: `expected` maps the answers that mean something here;
 * UNAVAILABLE (down, too slow) passes through; anything else is our bug or misconfiguration
 * (a rejected service token, say) and stays internal.
 */
function peerAnswer(
  peer: string,
  error: unknown,
  expected: Partial<Record<Code, () => ConnectError>>,
): ConnectError {
  const connectError = ConnectError.from(error);
  const mapped = expected[connectError.code];
  if (mapped) return mapped();
  if (connectError.code === Code.Unavailable) return connectError;
  return new ConnectError(
    `unexpected answer from the ${peer} service`,
    Code.Internal,
    undefined,
    undefined,
    error,
  );
}

function reserveFailure(error: unknown): Failure {
  const connectError = ConnectError.from(error);
  if (connectError.code === Code.FailedPrecondition) {
    const violation = connectError
      .findDetails(PreconditionFailureSchema)
      .flatMap((detail) => detail.violations)
      .find((v) => v.type === "STOCK");
    const productId = violation?.subject;
    return { error: outOfStock(productId, violation?.description), settled: true, productId };
  }
  if (connectError.code === Code.NotFound) {
    // Deleted between pricing and reserving; the catalog names it.
    return { error: new ConnectError(connectError.rawMessage, Code.NotFound), settled: true };
  }
  // Unavailable or unexpected: the reservation may have been made.
  return { error: peerAnswer("catalog", error, {}), settled: false };
}

/** FAILED_PRECONDITION naming the short product, in the detail the gateway reads. */
function outOfStock(productId: string | undefined, description?: string): ConnectError {
  const detail: PreconditionFailure = create(PreconditionFailureSchema, {
    violations: productId
      ? [{ type: "STOCK", subject: productId, description: description || "not enough stock" }]
      : [],
  });
  return new ConnectError(
    productId ? `not enough stock for product ${productId}` : "not enough stock",
    Code.FailedPrecondition,
    undefined,
    [{ desc: PreconditionFailureSchema, value: detail }],
  );
}

/** The error a failed attempt answered, rebuilt from its row. */
function remembered(attempt: OrderAttempt | undefined): ConnectError {
  const code = attempt?.failureCode ? Code[attempt.failureCode as keyof typeof Code] : undefined;
  if (code === Code.FailedPrecondition) return outOfStock(attempt?.failureProductId ?? undefined);
  if (code === undefined || code === Code.Internal || code === Code.Unknown) {
    return new ConnectError("internal error", Code.Internal);
  }
  return new ConnectError(attempt?.failureMessage ?? "the order failed", code);
}
