// Group commit for per-key writes, and coalesced reads: calls made in the same turn of the event
// loop run as one batch (one statement, one transaction, one WAL flush) instead of one each.
import { isUuid } from "./ids.js";

/**
 * A function of one key that runs `run` once for all the keys asked for in the same turn of
 * the event loop (at most `maxBatch` at a time). `run` answers each key, or leaves it out for
 * `missing` (which may throw, for that key's callers); when `run` throws, every caller of that
 * batch gets the error. A caller may pass a `context` with its key (its deadline, its
 * request): `run` receives them beside the keys, `contexts[i]` holding those of the callers
 * of `keys[i]` in the order they asked (never empty).
 *
 * With `maxInFlight`, at most that many runs are under way at once; keys asked for meanwhile
 * wait and leave together as soon as a run ends. Batches then grow with the load instead of
 * each turn sending its own: for a hot path whose runs queue behind each other anyway (the
 * same rows locked, one peer), the same work in fewer, larger runs. `run` must not wait for
 * another call of the same function, or it could wait for itself.
 */
export function batched<K, V, C = undefined>(
  run: (keys: readonly K[], contexts: readonly (readonly C[])[]) => Promise<ReadonlyMap<K, V>>,
  options: { maxBatch: number; missing: (key: K) => V; maxInFlight?: number },
): (key: K, context?: C) => Promise<V> {
  type Waiter = { resolve: (v: V) => void; reject: (e: unknown) => void; context: C };
  const maxInFlight = options.maxInFlight ?? Number.POSITIVE_INFINITY;
  let pending = new Map<K, Waiter[]>();
  let scheduled = false;
  let inFlight = 0;

  const schedule = () => {
    if (scheduled || pending.size === 0) return;
    scheduled = true;
    setImmediate(flush);
  };

  /** The next at most `maxBatch` keys waiting, taken out of `pending`. */
  const take = (): Map<K, Waiter[]> => {
    if (pending.size <= options.maxBatch) {
      const all = pending;
      pending = new Map();
      return all;
    }
    const slice = new Map<K, Waiter[]>();
    for (const [key, waiters] of pending) {
      if (slice.size >= options.maxBatch) break;
      slice.set(key, waiters);
    }
    for (const key of slice.keys()) pending.delete(key);
    return slice;
  };

  const flush = () => {
    scheduled = false;
    while (pending.size > 0 && inFlight < maxInFlight) {
      const batch = take();
      const slice = [...batch.keys()];
      const waiters = slice.map((key) => batch.get(key) ?? []);
      inFlight++;
      run(
        slice,
        waiters.map((forKey) => forKey.map((waiter) => waiter.context)),
      )
        .then(
          (answers) => {
            slice.forEach((key, i) => {
              const keyWaiters = waiters[i] ?? [];
              try {
                const value = answers.has(key) ? (answers.get(key) as V) : options.missing(key);
                for (const waiter of keyWaiters) waiter.resolve(value);
              } catch (error) {
                // `missing` may refuse a key: its callers get the error, the others their answers.
                for (const waiter of keyWaiters) waiter.reject(error);
              }
            });
          },
          (error: unknown) => {
            for (const waiter of waiters.flat()) waiter.reject(error);
          },
        )
        .finally(() => {
          inFlight--;
          // What waited for this run leaves now, with whatever joined it in this turn.
          schedule();
        });
    }
  };

  return (key, context) =>
    new Promise<V>((resolve, reject) => {
      const waiter = { resolve, reject, context: context as C };
      const waiters = pending.get(key);
      if (waiters) waiters.push(waiter);
      else pending.set(key, [waiter]);
      if (inFlight < maxInFlight) schedule();
    });
}

/**
 * The context of each key's first caller, in key order: for a `run` whose key is a request's
 * own id (asked once), the request itself.
 */
export function firstOfEach<C>(contexts: readonly (readonly C[])[]): C[] {
  // `batched` never hands `run` a key without a caller.
  return contexts.map(([first]) => first as C);
}

/**
 * `batched` for lookups by UUID, whose batch is one `= any($1::uuid[])` statement: ids are
 * compared lower-case (as PostgreSQL prints them), and a malformed id answers `missing` at once
 * instead of failing the statement it would have shared with the others.
 */
export function batchedByUuid<V>(
  run: (ids: readonly string[]) => Promise<ReadonlyMap<string, V>>,
  options: { maxBatch: number; missing: () => V },
): (id: string) => Promise<V> {
  const lookup = batched(run, options);
  return (id) => (isUuid(id) ? lookup(id.toLowerCase()) : Promise.resolve(options.missing()));
}
