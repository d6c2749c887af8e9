// The account service's tables. Only this service's process ever touches them.
import { sql } from "drizzle-orm";
import {
  bigint,
  check,
  index,
  integer,
  pgTable,
  text,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { roles } from "../../platform/auth/auth.js";
import { timestamps } from "../../platform/data/columns.js";
import { eventSeqColumn, outboxTable } from "../../platform/events/table.js";

export const accounts = pgTable(
  "accounts",
  {
    id: uuid("id").primaryKey(),
    name: text("name").notNull(),
    // Stored lower-cased; the unique index on lower(email) makes sign-up races safe.
    email: text("email").notNull(),
    role: text("role", { enum: roles }).notNull().default("customer"),
    passwordHash: text("password_hash").notNull(),
    // Bumped by every password change; a token carrying an older one (`ver`) is refused.
    tokenVersion: integer("token_version").notNull().default(0),
    eventSeq: eventSeqColumn(),
    ...timestamps,
  },
  (table) => [
    uniqueIndex("accounts_email_key").on(sql`lower(${table.email})`),
    check("accounts_role_check", sql`${table.role} in ('customer', 'admin')`),
  ],
);

// The guessing limits (throttle.ts), here so that every replica counts the same guesses.
// Times are epoch milliseconds from the replica that wrote them; keys are SHA-256 digests, so
// the emails an attacker tried are not kept in the clear. The migration makes both tables
// UNLOGGED (drizzle cannot say so): no WAL flush per failed login (recordFailure 3–8 ms → ~0.3
// ms under load here), and a crash of PostgreSQL empties them, as a restart emptied the
// in-memory limits before.
export const loginFailures = pgTable(
  "login_failures",
  {
    key: text("key").primaryKey(),
    failures: integer("failures").notNull(),
    lastFailureMs: bigint("last_failure_ms", { mode: "number" }).notNull(),
  },
  (table) => [index("login_failures_last_failure_idx").on(table.lastFailureMs)],
);

export const signupWindows = pgTable(
  "signup_windows",
  {
    key: text("key").primaryKey(),
    windowStartMs: bigint("window_start_ms", { mode: "number" }).notNull(),
    signups: integer("signups").notNull(),
  },
  (table) => [index("signup_windows_window_start_idx").on(table.windowStartMs)],
);

/** Domain events waiting for JetStream (platform/events). */
export const outbox = outboxTable();
