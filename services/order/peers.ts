// Clients of the services an order needs: account (does the customer exist?) and catalog
// (prices, stock). Every call carries the order service's identity, the caller's request id
// and a deadline; a peer that is down, slow or unreachable becomes UNAVAILABLE, never a hang
// (peer-transport.ts); the calls of orders placed together share one batch (peer-batches.ts).
import { type CallOptions, type Client, createClient, type Transport } from "@connectrpc/connect";
import { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import {
  CatalogService,
  type ReserveStockResponse,
} from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { defaultRetry, type RetryPolicy } from "../../platform/http/retry.js";
import { maxBatchCommits, maxBatchReservations, peerCallsInFlight } from "./limits.js";
import { accountChecks, entryError, perTurn } from "./peer-batches.js";
import { withPeer } from "./peer-transport.js";

export interface Peers {
  account: Client<typeof AccountService>;
  catalog: Client<typeof CatalogService>;
  /**
   * Options for peer calls made while serving request `requestId`: its request id, and a
   * deadline of PEER_TIMEOUT_MS or the time left until `deadline` (epoch ms, our own caller's
   * deadline), whichever is sooner, reckoned anew at each call.
   */
  callOptions(requestId: string, deadline?: number): CallOptions;
  /**
   * Whether the account exists. Checks asked for in the same turn of the event loop (orders
   * placed at the same moment) share one BatchGetAccounts call, under the shortest deadline
   * among them; a failure of that call is each of theirs.
   */
  accountExists(accountId: string, call: CallOptions): Promise<boolean>;
  /**
   * ReserveStock. The reservations of orders placed in the same turn of the event loop share
   * one BatchReserveStock call; each order still gets its own answer or error.
   */
  reserveStock(request: ReserveStock, call: CallOptions): Promise<ReserveStockResponse>;
  /** CommitReservation, shared like reserveStock (BatchCommitReservations). */
  commitReservation(orderId: string, call: CallOptions): Promise<void>;
  close(): Promise<void>;
}

export interface ReserveStock {
  orderId: string;
  items: { productId: string; quantity: number }[];
}

export interface PeerTransports {
  account: Transport;
  catalog: Transport;
  close?: () => Promise<void>;
}

export type { RetryPolicy };

export function createPeers(
  transports: PeerTransports,
  options: { token: () => Promise<string>; timeoutMs: number; retry?: RetryPolicy },
): Peers {
  const retry = options.retry ?? defaultRetry;
  const account = createClient(
    AccountService,
    withPeer(transports.account, "account", options.token, retry),
  );
  const catalog = createClient(
    CatalogService,
    withPeer(transports.catalog, "catalog", options.token, retry),
  );
  const commit = perTurn<{ orderId: string }, unknown>(
    (request, call) => catalog.commitReservation(request, call),
    async (requests, call) => {
      const orderIds = requests.map((r) => r.orderId);
      const { results } = await catalog.batchCommitReservations({ orderIds }, call);
      return results.map(({ result }) =>
        result.case === "committed" ? result.value : entryError(result),
      );
    },
    { maxBatch: maxBatchCommits, timeoutMs: options.timeoutMs, maxInFlight: peerCallsInFlight },
  );
  return {
    account,
    accountExists: accountChecks(account, options.timeoutMs),
    catalog,
    reserveStock: perTurn(
      (request, call) => catalog.reserveStock(request, call),
      async (requests, call) =>
        (await catalog.batchReserveStock({ requests }, call)).results.map(({ result }) =>
          result.case === "reserved" ? result.value : entryError(result),
        ),
      {
        maxBatch: maxBatchReservations,
        timeoutMs: options.timeoutMs,
        maxInFlight: peerCallsInFlight,
      },
    ),
    commitReservation: async (orderId, call) => {
      await commit({ orderId }, call);
    },
    callOptions: (requestId, deadline) => ({
      // A getter: each call of a saga takes what is left of the request's time at that step.
      get timeoutMs() {
        if (deadline === undefined) return options.timeoutMs;
        return Math.max(1, Math.min(options.timeoutMs, deadline - Date.now()));
      },
      ...(requestId ? { headers: { "x-request-id": requestId } } : {}),
    }),
    close: async () => {
      await transports.close?.();
    },
  };
}
