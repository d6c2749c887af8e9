// The peer calls of orders placed together, made once for all of them: the account checks in
// one BatchGetAccounts, the reservations and commits in BatchReserveStock and
// BatchCommitReservations, each order still getting its own answer or error.
import { type CallOptions, type Client, Code, ConnectError } from "@connectrpc/connect";
import type { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import type { Status } from "../../gen/google/rpc/status_pb.js";
import { batched, firstOfEach } from "../../platform/data/batcher.js";
import { fromStatus } from "../../platform/http/batch-status.js";
import { Lru } from "../../platform/lru.js";
import type { Peers } from "./peers.js";

/**
 * How long an account found to exist is believed to exist without asking again. Accounts are
 * never deleted (the account service has no such call), so a yes stays true; it is forgotten
 * after a while all the same, so that an account database restored to an earlier point is
 * believed again soon. A no is never remembered: the account may be created the next moment.
 */
export const knownAccountMs = 5 * 60_000;

/** Accounts remembered at most; the least recently used are forgotten first. */
const knownAccountEntries = 100_000;

/**
 * Peers.accountExists over `account`: one BatchGetAccounts per turn of the event loop for the
 * accounts not found to exist within the last `knownAccountMs`. A customer ordering again
 * costs the account service nothing (each check was a call of its own, or a share of one,
 * ~1–3 ms of its CPU under load: most of a call is HTTP and Connect, not the lookup).
 */
export function accountChecks(
  account: Client<typeof AccountService>,
  timeoutMs: number,
  rememberMs = knownAccountMs,
): Peers["accountExists"] {
  const known = new Lru<number>(knownAccountEntries);
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
  return async (accountId, call) => {
    const id = accountId.toLowerCase();
    const since = known.get(id);
    if (since !== undefined && Date.now() - since < rememberMs) return true;
    const exists = await check(id, call);
    if (exists) known.set(id, Date.now());
    return exists;
  };
}

/** A batch entry's error: the one the single call would have thrown. */
export function entryError(
  result: { case: "error"; value: Status } | { case: undefined },
): ConnectError {
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
export function perTurn<R extends { orderId: string }, A>(
  single: (request: R, call: CallOptions) => Promise<A>,
  batch: (requests: R[], call: CallOptions) => Promise<(A | ConnectError)[]>,
  options: { maxBatch: number; timeoutMs: number; maxInFlight?: number },
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
      ...(options.maxInFlight ? { maxInFlight: options.maxInFlight } : {}),
    },
  );
  return async (request, call) => {
    const outcome = await asked(request.orderId, { request, call });
    if ("error" in outcome) throw outcome.error;
    return outcome.answer;
  };
}
