// Limits on what guessing costs: failed password attempts per (key, client) with growing
// delays, and sign-ups per client. Kept in the account's PostgreSQL (schema.ts: login_failures,
// signup_windows), so that every replica counts the same attempts: with N replicas an attacker
// gets no more guesses than with one. This file owns those two tables' SQL and their rules.
//
// Cost: one prepared statement per Login that succeeds with no earlier failure (the check), a
// second for each failure (and one to clear the failures after a success that follows some).
// Bounded: `prune` (a worker on every replica) deletes what expired and then the oldest rows
// beyond `maxEntries`; between two passes a table grows by at most what arrives meanwhile.
import { createHash } from "node:crypto";
import { eq, lte, sql } from "drizzle-orm";
import { loginFailures, signupWindows } from "./schema.js";
import type { AccountDb } from "./store.js";

/** How often every replica prunes the two tables. */
export const pruneIntervalMs = 10_000;

/** A throttle key as stored: the digest of what it counts (an email and a client address…). */
function digest(key: string): string {
  return createHash("sha256").update(key).digest("base64url");
}

/**
 * The wait after `failures` failed attempts in a row: none before `maxFailures`, then 1 s at the
 * `maxFailures`th, and twice as long at each one after that, up to `maxDelayMs`.
 */
export function failureDelayMs(failures: number, maxFailures: number, maxDelayMs: number): number {
  const over = failures - maxFailures;
  return over < 0 ? 0 : Math.min(maxDelayMs, 1000 * 2 ** Math.min(over, 30));
}

export interface LimitOptions {
  /** Rows kept at most after each prune (least recently touched forgotten first). */
  maxEntries?: number;
  /** The clock (epoch ms); tests move it. */
  now?: () => number;
}

/**
 * Failed attempts per key (an email or account with the client's address). The `maxFailures`th
 * blocks the key for 1 s, and each one after that for twice as long as the last (2 s, 4 s, …
 * up to `maxDelayMs`). A key quiet for `maxDelayMs` starts over. Another client's failures never
 * block yours, so nobody can lock an account's owner out.
 */
export class FailureThrottle {
  readonly #now: () => number;
  readonly #maxEntries: number;
  readonly #check;
  readonly #fail;

  constructor(
    private readonly db: AccountDb,
    readonly maxFailures: number,
    readonly maxDelayMs: number,
    options: LimitOptions = {},
  ) {
    this.#now = options.now ?? Date.now;
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#check = db
      .select({ failures: loginFailures.failures, last: loginFailures.lastFailureMs })
      .from(loginFailures)
      .where(eq(loginFailures.key, sql.placeholder("key")))
      .prepare("login_failures_check");
    // One atomic upsert: failures counted by two replicas at once are both counted.
    this.#fail = db
      .insert(loginFailures)
      .values({
        key: sql.placeholder("key"),
        failures: 1,
        lastFailureMs: sql.placeholder("now"),
      })
      .onConflictDoUpdate({
        target: loginFailures.key,
        set: {
          failures: sql`case when ${sql.placeholder("now")}::bigint - ${loginFailures.lastFailureMs} < ${sql.placeholder("window")}::bigint
            then least(${loginFailures.failures} + 1, 1000000) else 1 end`,
          lastFailureMs: sql`${sql.placeholder("now")}::bigint`,
        },
      })
      .prepare("login_failures_record");
  }

  /**
   * Milliseconds until `key` may try again (0 when it may now), and how many failures in a row
   * it has: a success needs to clear them only when there are some.
   */
  async check(key: string): Promise<{ waitMs: number; failures: number }> {
    const [row] = await this.#check.execute({ key: digest(key) });
    if (!row) return { waitMs: 0, failures: 0 };
    const now = this.#now();
    if (now - row.last >= this.maxDelayMs) return { waitMs: 0, failures: 0 };
    const blockedUntil = row.last + failureDelayMs(row.failures, this.maxFailures, this.maxDelayMs);
    return { waitMs: Math.max(0, blockedUntil - now), failures: row.failures };
  }

  async recordFailure(key: string): Promise<void> {
    await this.#fail.execute({ key: digest(key), now: this.#now(), window: this.maxDelayMs });
  }

  async recordSuccess(key: string): Promise<void> {
    await this.db.delete(loginFailures).where(eq(loginFailures.key, digest(key)));
  }

  /** Deletes what expired, then the oldest beyond `maxEntries`; returns how many went. */
  async prune(): Promise<number> {
    const expired = await this.db
      .delete(loginFailures)
      .where(lte(loginFailures.lastFailureMs, this.#now() - this.maxDelayMs))
      .returning({ key: loginFailures.key });
    const over = await this.db.execute(sql`
      delete from ${loginFailures} where ${loginFailures.lastFailureMs} <= (
        select ${loginFailures.lastFailureMs} from ${loginFailures}
        order by ${loginFailures.lastFailureMs} desc offset ${this.#maxEntries} limit 1)`);
    return expired.length + rowCount(over);
  }
}

/** At most `max` events per key in each `windowMs` (a fixed window per key). */
export class RateLimit {
  readonly #now: () => number;
  readonly #maxEntries: number;
  readonly #take;

  constructor(
    private readonly db: AccountDb,
    readonly max: number,
    readonly windowMs: number,
    options: LimitOptions = {},
  ) {
    this.#now = options.now ?? Date.now;
    this.#maxEntries = options.maxEntries ?? 100_000;
    // One atomic upsert that counts the event and says whether it was within the limit: the
    // count stops at max + 1, so "over" is `signups > max` whatever the race.
    const fresh = sql`${sql.placeholder("now")}::bigint - ${signupWindows.windowStartMs} >= ${sql.placeholder("window")}::bigint`;
    this.#take = db
      .insert(signupWindows)
      .values({ key: sql.placeholder("key"), windowStartMs: sql.placeholder("now"), signups: 1 })
      .onConflictDoUpdate({
        target: signupWindows.key,
        set: {
          windowStartMs: sql`case when ${fresh} then ${sql.placeholder("now")}::bigint else ${signupWindows.windowStartMs} end`,
          signups: sql`case when ${fresh} then 1 else least(${signupWindows.signups} + 1, ${sql.placeholder("max")}::int + 1) end`,
        },
      })
      .returning({ start: signupWindows.windowStartMs, signups: signupWindows.signups })
      .prepare("signup_windows_take");
  }

  /** Counts one event for `key`: 0 when allowed, else the milliseconds until it would be. */
  async take(key: string): Promise<number> {
    const now = this.#now();
    const [row] = await this.#take.execute({
      key: digest(key),
      now,
      window: this.windowMs,
      max: this.max,
    });
    if (!row || row.signups <= this.max) return 0;
    return Math.max(1, row.start + this.windowMs - now);
  }

  /** Deletes the windows that ended, then the oldest beyond `maxEntries`; returns how many went. */
  async prune(): Promise<number> {
    const expired = await this.db
      .delete(signupWindows)
      .where(lte(signupWindows.windowStartMs, this.#now() - this.windowMs))
      .returning({ key: signupWindows.key });
    const over = await this.db.execute(sql`
      delete from ${signupWindows} where ${signupWindows.windowStartMs} <= (
        select ${signupWindows.windowStartMs} from ${signupWindows}
        order by ${signupWindows.windowStartMs} desc offset ${this.#maxEntries} limit 1)`);
    return expired.length + rowCount(over);
  }
}

/** The rows a postgres.js `execute` touched. */
function rowCount(result: unknown): number {
  return (result as { count?: number }).count ?? 0;
}
