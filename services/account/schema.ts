// The account service's tables. Only this service's process ever touches them.
import { sql } from "drizzle-orm";
import { check, integer, pgTable, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
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

/** Domain events waiting for JetStream (platform/events). */
export const outbox = outboxTable();
