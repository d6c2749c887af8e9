// All SQL of the account service. It speaks in plain records, never protobuf messages.
import { asc, eq, inArray, sql } from "drizzle-orm";
import type { Role } from "../../platform/auth.js";
import type { Database } from "../../platform/database.js";
import { PG_UNIQUE_VIOLATION, pgErrorCode } from "../../platform/database.js";
import { uuidv7 } from "../../platform/ids.js";
import * as schema from "./schema.js";

export type AccountDb = Database<typeof schema>;
export type AccountRecord = typeof schema.accounts.$inferSelect;

export class EmailTakenError extends Error {
  override name = "EmailTakenError";
}

export class AccountStore {
  constructor(private readonly db: AccountDb) {}

  /** Inserts an account; the unique index, not a prior read, decides a race for one email. */
  async create(input: {
    name: string;
    email: string;
    role: Role;
    passwordHash: string;
  }): Promise<AccountRecord> {
    try {
      const [row] = await this.db
        .insert(schema.accounts)
        .values({ id: uuidv7(), ...input })
        .returning();
      if (!row) throw new Error("insert returned no row");
      return row;
    } catch (error) {
      if (pgErrorCode(error) === PG_UNIQUE_VIOLATION)
        throw new EmailTakenError(input.email, { cause: error });
      throw error;
    }
  }

  /** Creates the account unless the email is taken; true when it was created. */
  async createIfAbsent(input: {
    name: string;
    email: string;
    role: Role;
    passwordHash: string;
  }): Promise<boolean> {
    const rows = await this.db
      .insert(schema.accounts)
      .values({ id: uuidv7(), ...input })
      .onConflictDoNothing()
      .returning({ id: schema.accounts.id });
    return rows.length > 0;
  }

  async findById(id: string): Promise<AccountRecord | undefined> {
    const [row] = await this.db.select().from(schema.accounts).where(eq(schema.accounts.id, id));
    return row;
  }

  async findByEmail(email: string): Promise<AccountRecord | undefined> {
    const [row] = await this.db
      .select()
      .from(schema.accounts)
      .where(sql`lower(${schema.accounts.email}) = ${email.toLowerCase()}`);
    return row;
  }

  /** The account's current token version; 0 for an unknown id (no token can name it). */
  async tokenVersion(id: string): Promise<number> {
    const [row] = await this.db
      .select({ version: schema.accounts.tokenVersion })
      .from(schema.accounts)
      .where(eq(schema.accounts.id, id));
    return row?.version ?? 0;
  }

  /** The accounts that exist among `ids`, in no particular order. */
  async findByIds(ids: readonly string[]): Promise<AccountRecord[]> {
    if (ids.length === 0) return [];
    return this.db
      .select()
      .from(schema.accounts)
      .where(inArray(schema.accounts.id, [...ids]));
  }

  /** Every admin account (there are few). */
  async listAdmins(): Promise<AccountRecord[]> {
    return this.db.select().from(schema.accounts).where(eq(schema.accounts.role, "admin"));
  }

  /** Oldest first; ids are time-ordered UUIDs, so they break ties in creation order. */
  async list(skip: number, take: number): Promise<AccountRecord[]> {
    return this.db
      .select()
      .from(schema.accounts)
      .orderBy(asc(schema.accounts.createTime), asc(schema.accounts.id))
      .offset(skip)
      .limit(take);
  }

  /** A new password hash also bumps the token version, revoking every token issued before. */
  async update(
    id: string,
    changes: { name?: string; passwordHash?: string },
  ): Promise<AccountRecord | undefined> {
    const revoke =
      changes.passwordHash === undefined
        ? {}
        : { tokenVersion: sql`${schema.accounts.tokenVersion} + 1` };
    const [row] = await this.db
      .update(schema.accounts)
      .set({ ...changes, ...revoke, updateTime: sql`now()` })
      .where(eq(schema.accounts.id, id))
      .returning();
    return row;
  }
}
