// The account service's rules, free of I/O: what a valid request is, who may do what,
// and how many failed logins an email may have.
import * as v from "valibot";
import type { Caller } from "../../platform/auth.js";
import {
  charLength,
  displayName,
  paginationEntries,
  uuidField,
} from "../../platform/validation.js";

export const email = v.pipe(
  v.string(),
  v.trim(),
  v.toLowerCase(),
  v.nonEmpty("is required"),
  v.maxLength(254, "must be at most 254 characters"),
  v.email("must be an email address such as ada@example.com"),
);
export const password = v.pipe(v.string(), charLength(8, 128));

export const createAccountRequest = v.object({
  name: displayName(100),
  email,
  password,
});

export const getAccountRequest = v.object({ id: uuidField });

export const batchGetAccountsRequest = v.object({
  ids: v.pipe(v.array(v.string()), v.maxLength(1000, "must hold at most 1000 ids")),
});

export const listAccountsRequest = v.object(paginationEntries);

export const updateAccountRequest = v.object({
  id: uuidField,
  name: v.optional(displayName(100)),
  newPassword: v.optional(password),
  currentPassword: v.optional(v.pipe(v.string(), v.maxLength(1024, "is too long"))),
});

export const loginRequest = v.object({
  email: v.pipe(
    v.string(),
    v.trim(),
    v.toLowerCase(),
    v.nonEmpty("is required"),
    v.maxLength(254, "must be at most 254 characters"),
  ),
  password: v.pipe(v.string(), v.nonEmpty("is required"), v.maxLength(1024, "is too long")),
});

/** Who may change `accountId`: the account itself or an admin; services change nobody. */
export function mayChange(caller: Caller, accountId: string): boolean {
  return caller.kind === "user" && (caller.role === "admin" || caller.accountId === accountId);
}

/**
 * Changing a password needs the current one when you change your own; an admin resetting
 * someone else's password does not know it.
 */
export function needsCurrentPassword(caller: Caller, accountId: string): boolean {
  return !(caller.kind === "user" && caller.role === "admin" && caller.accountId !== accountId);
}

/**
 * Failed logins per email in a sliding window. Guessing passwords then costs the attacker
 * time rather than the service CPU. Kept in memory: per process, reset on restart.
 */
export class LoginThrottle {
  readonly #failures = new Map<string, number[]>();

  constructor(
    readonly maxFailures: number,
    readonly windowMs: number,
    readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until `email` may try again, or 0 when it may now. */
  retryAfter(email: string): number {
    const recent = this.#recent(email);
    if (recent.length < this.maxFailures) return 0;
    return (recent[0] ?? 0) + this.windowMs - this.now();
  }

  recordFailure(email: string): void {
    const recent = this.#recent(email);
    recent.push(this.now());
    this.#failures.set(email, recent);
    if (this.#failures.size > 100_000) this.#prune();
  }

  recordSuccess(email: string): void {
    this.#failures.delete(email);
  }

  #recent(email: string): number[] {
    const since = this.now() - this.windowMs;
    return (this.#failures.get(email) ?? []).filter((t) => t > since);
  }

  #prune(): void {
    for (const email of this.#failures.keys()) {
      if (this.#recent(email).length === 0) this.#failures.delete(email);
    }
  }
}
