// Limits on what guessing costs: failed password attempts per (key, client) with growing
// delays, and sign-ups per client. Kept in memory (per process, reset on restart), bounded:
// the least recently touched entries go first, and every operation is O(1).
import { Lru } from "../../platform/lru.js";

/**
 * Failed attempts per key (an email or account with the client's address). The `maxFailures`th
 * blocks the key for 1 s, and each one after that for twice as long as the last (2 s, 4 s, …
 * up to `maxDelayMs`). A key quiet for `maxDelayMs` starts over. Another
 * client's failures never block yours, so nobody can lock an account's owner out.
 */
export class FailureThrottle {
  readonly #failures: Lru<{ count: number; last: number; blockedUntil: number }>;

  constructor(
    readonly maxFailures: number,
    readonly maxDelayMs: number,
    readonly options: { maxEntries?: number; now?: () => number } = {},
  ) {
    this.#failures = new Lru(options.maxEntries ?? 100_000);
  }

  get size(): number {
    return this.#failures.size;
  }

  #now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Milliseconds until `key` may try again, or 0 when it may now. */
  retryAfter(key: string): number {
    const entry = this.#failures.get(key);
    return entry ? Math.max(0, entry.blockedUntil - this.#now()) : 0;
  }

  recordFailure(key: string): void {
    const now = this.#now();
    const entry = this.#failures.get(key);
    const count = entry && now - entry.last < this.maxDelayMs ? entry.count + 1 : 1;
    const over = count - this.maxFailures;
    const delay = over < 0 ? 0 : Math.min(this.maxDelayMs, 1000 * 2 ** Math.min(over, 30));
    this.#failures.set(key, { count, last: now, blockedUntil: now + delay });
  }

  recordSuccess(key: string): void {
    this.#failures.delete(key);
  }
}

/** At most `max` events per key in each `windowMs` (a fixed window per key). */
export class RateLimit {
  readonly #windows: Lru<{ start: number; count: number }>;

  constructor(
    readonly max: number,
    readonly windowMs: number,
    readonly options: { maxEntries?: number; now?: () => number } = {},
  ) {
    this.#windows = new Lru(options.maxEntries ?? 100_000);
  }

  /** Counts one event for `key`: 0 when allowed, else the milliseconds until it would be. */
  take(key: string): number {
    const now = (this.options.now ?? Date.now)();
    const current = this.#windows.get(key);
    const window =
      current && now - current.start < this.windowMs ? current : { start: now, count: 0 };
    if (window.count >= this.max) return window.start + this.windowMs - now;
    this.#windows.set(key, { start: window.start, count: window.count + 1 });
    return 0;
  }
}
