// How the order service's calls reach its peers: the network transports (Connect over
// HTTP/1.1, or gRPC), the service identity on every call, the retries of the calls that may be
// repeated, and the one reading of a call that got no answer (PeerUnavailableError).
import http from "node:http";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { causes } from "../../platform/errors.js";
import { type RetryPolicy, withRetries } from "../../platform/http/retry.js";
import { tracingClientInterceptor } from "../../platform/observability/tracing.js";
import type { PeerName } from "./domain.js";
import type { PeerTransports } from "./peers.js";

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
export function withPeer(
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
