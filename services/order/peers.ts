// Clients of the services an order needs: account (does the customer exist?) and catalog
// (prices, stock). Every call carries the order service's identity, the caller's request id
// and a deadline; a peer that is down, slow or unreachable becomes UNAVAILABLE, never a hang.
import http from "node:http";
import {
  type CallOptions,
  type Client,
  Code,
  ConnectError,
  createClient,
  type Transport,
} from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import {
  CatalogService,
  type ReserveStockResponse,
} from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import type { Status } from "../../gen/google/rpc/status_pb.js";
import { batched, firstOfEach } from "../../platform/data/batcher.js";
import { causes } from "../../platform/errors.js";
import { fromStatus } from "../../platform/http/batch-status.js";
import { defaultRetry, type RetryPolicy, withRetries } from "../../platform/http/retry.js";
import { tracingClientInterceptor } from "../../platform/observability/tracing.js";
import type { PeerName } from "./domain.js";
import { maxBatchCommits, maxBatchReservations } from "./limits.js";

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
    { maxBatch: maxBatchCommits, timeoutMs: options.timeoutMs },
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
      { maxBatch: maxBatchReservations, timeoutMs: options.timeoutMs },
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

/** Peers.accountExists over `account`: one BatchGetAccounts per turn of the event loop. */
function accountChecks(
  account: Client<typeof AccountService>,
  timeoutMs: number,
): Peers["accountExists"] {
  const check = batched<string, boolean, CallOptions>(
    async (ids, callsPerId) => {
      const calls = callsPerId.flat();
      // One order alone keeps its own request id on the call; a batch serves several.
      const only = calls.length === 1 ? calls[0] : undefined;
      const { accounts } = await account.batchGetAccounts(
        { ids: [...ids] },
        {
          timeoutMs: Math.min(...calls.map((call) => call.timeoutMs ?? timeoutMs)),
          ...(only?.headers ? { headers: only.headers } : {}),
        },
      );
      return new Map(accounts.map((found) => [found.id, true]));
    },
    // BatchGetAccounts takes up to 1000 ids.
    { maxBatch: 500, missing: () => false },
  );
  return (accountId, call) => check(accountId.toLowerCase(), call);
}

/** A batch entry's error: the one the single call would have thrown. */
function entryError(result: { case: "error"; value: Status } | { case: undefined }): ConnectError {
  if (result.case === "error") return fromStatus(result.value);
  return unanswered();
}

/** A batch answer without a result for a request: the peer broke the contract. */
const unanswered = () => new ConnectError("the batch answer left this order out", Code.Internal);

/**
 * A per-order peer call, made once for all the orders that ask in the same turn of the event
 * loop: `single` when one order asks alone (it keeps its own request id on the call), else
 * `batch`, under the shortest deadline among the orders it serves, answering each its own
 * value or error (in request order). A peer that does not know the batch method yet
 * (UNIMPLEMENTED, during a rolling upgrade) is asked once per order instead.
 */
function perTurn<R extends { orderId: string }, A>(
  single: (request: R, call: CallOptions) => Promise<A>,
  batch: (requests: R[], call: CallOptions) => Promise<(A | ConnectError)[]>,
  options: { maxBatch: number; timeoutMs: number },
): (request: R, call: CallOptions) => Promise<A> {
  type Asked = { request: R; call: CallOptions };
  const asked = batched<string, { answer: A } | { error: unknown }, Asked>(
    async (orderIds, contexts) => {
      // An order asks once; should it ask twice in one turn, its first request speaks for both.
      const askers = firstOfEach(contexts);
      const only = askers.length === 1 ? askers[0] : undefined;
      if (only) {
        // Alone, the single call; its failure (no answer) rejects, as a batch call's does.
        return new Map([[only.request.orderId, { answer: await single(only.request, only.call) }]]);
      }
      const timeoutMs = Math.min(...askers.map((a) => a.call.timeoutMs ?? options.timeoutMs));
      let outcomes: ({ answer: A } | { error: unknown })[];
      try {
        const answers = await batch(
          askers.map((a) => a.request),
          { timeoutMs },
        );
        outcomes = askers.map((_, i) => {
          const answer = answers[i];
          if (answer === undefined) return { error: unanswered() };
          return answer instanceof ConnectError ? { error: answer } : { answer };
        });
      } catch (error) {
        if (ConnectError.from(error).code !== Code.Unimplemented) throw error;
        outcomes = await Promise.all(
          askers.map((a) =>
            single(a.request, a.call).then(
              (answer) => ({ answer }),
              (error: unknown) => ({ error }),
            ),
          ),
        );
      }
      return new Map(orderIds.map((id, i) => [id, outcomes[i] ?? { error: unanswered() }]));
    },
    {
      maxBatch: options.maxBatch,
      missing: () => ({ error: unanswered() }),
    },
  );
  return async (request, call) => {
    const outcome = await asked(request.orderId, { request, call });
    if ("error" in outcome) throw outcome.error;
    return outcome.answer;
  };
}

/**
 * Network transports to the peers at their URLs. Connect over HTTP/1.1 with keep-alive is the
 * default: on this stack the connect-node gRPC client over h2c measured the slower of the two
 * (`npm run bench:gateway` compares them). PEER_PROTOCOL=grpc picks gRPC.
 */
export function httpPeerTransports(config: {
  ACCOUNT_URL: string;
  CATALOG_URL: string;
  PEER_PROTOCOL: "connect" | "grpc";
}): PeerTransports {
  // One client span per attempt (withPeer retries around the transport).
  const interceptors = [tracingClientInterceptor()];
  if (config.PEER_PROTOCOL === "grpc") {
    const sessions = [config.ACCOUNT_URL, config.CATALOG_URL].map(
      (url) => new Http2SessionManager(url, { idleConnectionTimeoutMs: 60_000 }),
    );
    const [accountSessions, catalogSessions] = sessions as [
      Http2SessionManager,
      Http2SessionManager,
    ];
    return {
      account: createGrpcTransport({
        baseUrl: config.ACCOUNT_URL,
        sessionManager: accountSessions,
        acceptCompression: [],
        interceptors,
      }),
      catalog: createGrpcTransport({
        baseUrl: config.CATALOG_URL,
        sessionManager: catalogSessions,
        acceptCompression: [],
        interceptors,
      }),
      close: async () => {
        for (const session of sessions) session.abort();
      },
    };
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 10_000 });
  const connect = (baseUrl: string) =>
    createConnectTransport({
      baseUrl,
      httpVersion: "1.1",
      useBinaryFormat: true,
      nodeOptions: { agent },
      // Peers on the same network: compressing answers (gzip above 1 KB, e.g. BatchGetAccounts
      // for a burst of orders) cost the account service ~3% of its CPU for nothing.
      acceptCompression: [],
      interceptors,
    });
  return {
    account: connect(config.ACCOUNT_URL),
    catalog: connect(config.CATALOG_URL),
    close: async () => agent.destroy(),
  };
}

/**
 * The peer calls that may be repeated: reads, and the stock calls keyed by an order id that the
 * catalog applies at most once (ReserveStock, CommitReservation, ReleaseStock, ReturnStock,
 * and their batches, each entry on its own). Nothing else is
 * retried, so a call added later is not retried until someone decides it may be.
 */
const idempotentMethods = new Set([
  "GetAccount",
  "BatchGetAccounts",
  "GetProduct",
  "BatchGetProducts",
  "ReserveStock",
  "CommitReservation",
  "ReleaseStock",
  "ReturnStock",
  "BatchReserveStock",
  "BatchCommitReservations",
]);

/**
 * `transport` with the service identity on every call, peer failures made UNAVAILABLE, and
 * idempotent calls that got no answer (and any call never sent) retried on another connection
 * (platform/http/retry.ts), bounded by `retry.attempts` and by the call's own deadline.
 */
function withPeer(
  transport: Transport,
  peer: PeerName,
  token: () => Promise<string>,
  retry: RetryPolicy,
): Transport {
  const authorized = async (header: ConstructorParameters<typeof Headers>[0]) => {
    const headers = new Headers(header);
    headers.set("authorization", `Bearer ${await token()}`);
    return headers;
  };
  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) =>
      withRetries(
        async (left) => {
          try {
            const headers = await authorized(header);
            return await transport.unary(method, signal, left, headers, input, contextValues);
          } catch (error) {
            throw peerError(peer, error);
          }
        },
        {
          policy: retry,
          repeatable: idempotentMethods.has(method.name),
          unanswered: (failure) => failure instanceof PeerUnavailableError && !failure.timedOut,
          signal,
          deadline: timeoutMs === undefined ? undefined : Date.now() + timeoutMs,
        },
      ),
    stream: async (method, signal, timeoutMs, header, input, contextValues) => {
      try {
        const headers = await authorized(header);
        return await transport.stream(method, signal, timeoutMs, headers, input, contextValues);
      } catch (error) {
        throw peerError(peer, error);
      }
    },
  };
}

const unavailableCodes = new Set([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.Aborted,
  Code.Canceled,
  Code.ResourceExhausted,
]);

/**
 * A peer call that got no answer worth reading: the peer is down, too slow, or the connection
 * broke. Retrying later may work. Every other failure is an answer the peer chose (NOT_FOUND,
 * FAILED_PRECONDITION, …) and passes through as it is, for the saga to interpret.
 */
export class PeerUnavailableError extends ConnectError {
  // ConnectError recognises any error named "ConnectError" as one (its name stays that), and
  // subclasses inherit that test: this class checks its own prototype chain instead.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(PeerUnavailableError, value);
  }

  constructor(
    readonly peer: PeerName,
    readonly timedOut: boolean,
    cause: unknown,
  ) {
    super(peerUnavailableText(peer, timedOut), Code.Unavailable, undefined, undefined, cause);
  }
}

/** What our caller reads when a peer did not answer. */
export function peerUnavailableText(peer: PeerName, timedOut: boolean): string {
  return `the ${peer} service ${timedOut ? "did not answer in time" : "is unavailable"}; try again later`;
}

/** The one reading of a failed peer call: no answer (PeerUnavailableError) or the peer's answer. */
export function peerError(peer: PeerName, error: unknown): ConnectError {
  const connectError = ConnectError.from(error);
  if (unavailableCodes.has(connectError.code) || isNetworkFailure(error)) {
    return new PeerUnavailableError(peer, connectError.code === Code.DeadlineExceeded, error);
  }
  return connectError;
}

/** A Node socket or HTTP error anywhere in the cause chain: the call never got an answer. */
function isNetworkFailure(error: unknown): boolean {
  for (const layer of causes(error)) {
    const code = (layer as { code?: unknown }).code;
    if (typeof code === "string" && /^(E[A-Z]+|ERR_[A-Z0-9_]+|UND_ERR_[A-Z_]+)$/.test(code)) {
      return true;
    }
  }
  return false;
}
