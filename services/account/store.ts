// All SQL of the account service. It speaks in plain records, never protobuf messages.
import { asc, eq, sql } from "drizzle-orm";
import type { Role } from "../../platform/auth/auth.js";
import { batchedByUuid } from "../../platform/data/batcher.js";
import type { Database } from "../../platform/data/database.js";
import { PG_UNIQUE_VIOLATION, pgArray, pgErrorCode } from "../../platform/data/database.js";
import { uuidv7 } from "../../platform/data/ids.js";
import { recordEvents } from "../../platform/events/record.js";
import { accountCreated, accountUpdated } from "./events.js";
import * as schema from "./schema.js";

export type AccountDb = Database<typeof schema>;
export type AccountRecord = typeof schema.accounts.$inferSelect;

const { accounts } = schema;

/** What reads that only show an account need: no password hash, no token version. */
const shownColumns = {
  id: accounts.id,
  name: accounts.name,
  email: accounts.email,
  role: accounts.role,
  createTime: accounts.createTime,
};
export type AccountView = Pick<AccountRecord, keyof typeof shownColumns>;

export class EmailTakenError extends Error {
  override name = "EmailTakenError";
}

export class AccountStore {
  // The hot reads, built once: drizzle then only fills in the parameters on each call, and
  // postgres.js keeps them as prepared statements on each connection (an unprepared drizzle
  // query is built anew and parsed by the server on every call).
  readonly #byId;
  readonly #byIds;
  readonly #page;
  readonly #versions;

  constructor(private readonly db: AccountDb) {
    this.#byId = db
      .select()
      .from(accounts)
      .where(eq(accounts.id, sql.placeholder("id")))
      .prepare("account_by_id");
    this.#byIds = db
      .select(shownColumns)
      .from(accounts)
      .where(sql`${accounts.id} = any(${sql.placeholder("ids")}::uuid[])`)
      .prepare("accounts_by_ids");
    this.#page = db
      .select(shownColumns)
      .from(accounts)
      .orderBy(asc(accounts.createTime), asc(accounts.id))
      .offset(sql.placeholder("skip"))
      .limit(sql.placeholder("take"))
      .prepare("accounts_page");
    this.#versions = db
      .select({ id: accounts.id, version: accounts.tokenVersion })
      .from(accounts)
      .where(sql`${accounts.id} = any(${sql.placeholder("ids")}::uuid[])`)
      .prepare("account_token_versions");
  }

  /**
   * Inserts an account and records AccountCreated; the unique index, not a prior read,
   * decides a race for one email.
   */
  async create(input: {
    name: string;
    email: string;
    role: Role;
    passwordHash: string;
  }): Promise<AccountRecord> {
    try {
      return await this.db.transaction(async (tx) => {
        // AccountCreated is the account's event 1.
        const [row] = await tx
          .insert(schema.accounts)
          .values({ id: uuidv7(), ...input, eventSeq: 1 })
          .returning();
        if (!row) throw new Error("insert returned no row");
        await recordEvents(tx, [accountCreated(row, 1)]);
        return row;
      });
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
    return this.db.transaction(async (tx) => {
      const [row] = await tx
        .insert(schema.accounts)
        .values({ id: uuidv7(), ...input, eventSeq: 1 })
        .onConflictDoNothing()
        .returning();
      if (row) await recordEvents(tx, [accountCreated(row, 1)]);
      return row !== undefined;
    });
  }

  async findById(id: string): Promise<AccountRecord | undefined> {
    const [row] = await this.#byId.execute({ id });
    return row;
  }

  async findByEmail(email: string): Promise<AccountRecord | undefined> {
    const [row] = await this.db
      .select()
      .from(schema.accounts)
      .where(sql`lower(${schema.accounts.email}) = ${email.toLowerCase()}`);
    return row;
  }

  /**
   * The account's current token version; 0 for an unknown id (no token can name it). Every
   * user token is checked against it, so the lookups asked for in the same turn of the event
   * loop share one statement. Each statement starts after all of its callers asked, so a
   * caller never sees a version older than one read at the moment it asked.
   */
  tokenVersion(id: string): Promise<number> {
    return this.#tokenVersion(id);
  }

  readonly #tokenVersion = batchedByUuid<number>(
    async (ids) => {
      const rows = await this.#versions.execute({ ids: pgArray(ids) });
      return new Map(rows.map((row) => [row.id, row.version]));
    },
    { maxBatch: 1000, missing: () => 0 },
  );

  /** The accounts that exist among `ids`, in no particular order. */
  async findByIds(ids: readonly string[]): Promise<AccountView[]> {
    if (ids.length === 0) return [];
    return this.#byIds.execute({ ids: pgArray(ids) });
  }

  /** Every admin account (there are few). */
  async listAdmins(): Promise<AccountRecord[]> {
    return this.db.select().from(schema.accounts).where(eq(schema.accounts.role, "admin"));
  }

  /** Oldest first; ids are time-ordered UUIDs, so they break ties in creation order. */
  async list(skip: number, take: number): Promise<AccountView[]> {
    return this.#page.execute({ skip, take });
  }

  /**
   * A new password hash also bumps the token version, revoking every token issued before.
   * Records AccountUpdated with the account's next sequence number.
   */
  async update(
    id: string,
    changes: { name?: string; passwordHash?: string },
  ): Promise<AccountRecord | undefined> {
    const revoke =
      changes.passwordHash === undefined
        ? {}
        : { tokenVersion: sql`${schema.accounts.tokenVersion} + 1` };
    return this.db.transaction(async (tx) => {
      const [row] = await tx
        .update(schema.accounts)
        .set({
          ...changes,
          ...revoke,
          eventSeq: sql`${schema.accounts.eventSeq} + 1`,
          updateTime: sql`now()`,
        })
        .where(eq(schema.accounts.id, id))
        .returning();
      if (row) await recordEvents(tx, [accountUpdated(row, row.eventSeq)]);
      return row;
    });
  }
}
