// The account service's rules, free of I/O: what a valid request is and who may do what.
import * as v from "valibot";
import type { Caller } from "../../platform/auth/auth.js";
import {
  charLength,
  displayName,
  paginationEntries,
  uuidField,
} from "../../platform/http/validation.js";

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

export const getTokenVersionRequest = v.object({ accountId: uuidField });

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

/** The services that read accounts: the order service (does the customer exist?). */
export const accountReaders: readonly string[] = ["order"];

/** Who may read `accountId`: the account itself, an admin, or the order service. */
export function mayRead(caller: Caller, accountId: string): boolean {
  if (caller.kind === "service") return accountReaders.includes(caller.service);
  return caller.kind === "user" && (caller.role === "admin" || caller.accountId === accountId);
}

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
