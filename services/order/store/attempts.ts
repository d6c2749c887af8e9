// The saga's rows (saga.ts, recovery.ts): attempts begun, confirmed with their items or
// failed, whether the catalog knows their outcome, and the ones recovery must finish.
import { and, asc, eq, inArray, lt, ne, sql } from "drizzle-orm";
import { batched, firstOfEach } from "../../../platform/data/batcher.js";
import { pgArray } from "../../../platform/data/database.js";
import { preparedRows, tableRow } from "../../../platform/data/prepared.js";
import { type EventDraft, outboxInsertSql } from "../../../platform/events/record.js";
import type { OrderFailure, PricedItem } from "../domain.js";
import { orderPlacedDraft } from "../events.js";
import { statementsInFlight } from "../limits.js";
import {
  type BeginResult,
  failureColumns,
  type OrderAttempt,
  type OrderRecord,
  toAttempt,
} from "../records.js";
import * as schema from "../schema.js";
import { ago, type OrderDb } from "./db.js";

/**
 * Which process writes the attempts: an instance name that a restart keeps (host and port by
 * default: one live process at a time can hold them) and an id of this boot.
 */
export interface AttemptOwner {
  instance: string;
  boot: string;
}

interface BeginInput {
  id: string;
  accountId: string;
  idempotencyKey: string | undefined;
}

export class AttemptStore {
  readonly #owner: string | null;
  readonly #predecessorPrefix: string | undefined;

  constructor(
    readonly db: OrderDb,
    options: { owner?: AttemptOwner | undefined } = {},
  ) {
    const { owner } = options;
    this.#owner = owner ? `${owner.instance}/${owner.boot}` : null;
    this.#predecessorPrefix = owner ? `${owner.instance}/` : undefined;
  }

  /**
   * Writes a pending attempt. With an idempotency key, the partial unique index decides a race
   * between duplicates: the loser gets the live attempt (pending or confirmed) instead. Attempts
   * begun together share one INSERT (group commit), and so leave together for their peer calls.
   */
  begin(input: BeginInput): Promise<BeginResult> {
    return this.#begin(input.id, input);
  }

  readonly #begin = batched<string, BeginResult, BeginInput>(
    async (_ids, asked) => {
      const inputs = firstOfEach(asked);
      // One text for every batch size, prepared. On a conflict, DO NOTHING also covers two
      // duplicates inside this one statement.
      const created = await preparedRows(
        this.db,
        sql`insert into orders (id, account_id, idempotency_key, status, owner)
          select a.id, a."accountId", a."idempotencyKey", 'pending', ${this.#owner}::text
          from json_to_recordset(${JSON.stringify(inputs)}::json)
            as a(id uuid, "accountId" uuid, "idempotencyKey" text)
          on conflict (account_id, idempotency_key) where status <> 'failed' do nothing
          returning *`,
      );
      const results = new Map<string, BeginResult>(
        created.map((raw) => {
          const row = tableRow(schema.orders, raw);
          return [row.id, { created: true, attempt: toAttempt(row) }];
        }),
      );
      // Those that lost to a live attempt with their key learn which one, one by one.
      for (const input of inputs) {
        if (!results.has(input.id)) results.set(input.id, await this.#beginAlone(input));
      }
      return results;
    },
    {
      maxBatch: 200,
      missing: (id) => {
        throw new Error(`attempt ${id} was neither begun nor refused`);
      },
      maxInFlight: statementsInFlight,
    },
  );

  /** `begin` for one attempt whose key another attempt holds: that one's, or a fresh start. */
  async #beginAlone(input: BeginInput): Promise<BeginResult> {
    const { orders } = schema;
    const key = input.idempotencyKey;
    if (key === undefined) throw new Error("an attempt without a key cannot conflict");
    // The live attempt may fail (and leave the index) between our insert and our read: try again.
    for (let round = 0; round < 5; round++) {
      const [existing] = await this.db
        .select()
        .from(orders)
        .where(
          and(
            eq(orders.accountId, input.accountId),
            eq(orders.idempotencyKey, key),
            ne(orders.status, "failed"),
          ),
        );
      if (existing) return { created: false, existing: toAttempt(existing) };
      const [attempt] = await this.db
        .insert(orders)
        .values({ ...input, idempotencyKey: key, status: "pending", owner: this.#owner })
        .onConflictDoNothing({
          target: [orders.accountId, orders.idempotencyKey],
          where: sql`status <> 'failed'`,
        })
        .returning();
      if (attempt) return { created: true, attempt: toAttempt(attempt) };
    }
    throw new Error("idempotency key kept changing hands");
  }

  async findAttempt(id: string): Promise<OrderAttempt | undefined> {
    const [row] = await this.db.select().from(schema.orders).where(eq(schema.orders.id, id));
    return row && toAttempt(row);
  }

  /**
   * Writes the items and the total and marks the attempt confirmed, in one statement (one
   * round trip, its own transaction): the items are inserted only when the update found the
   * attempt still pending. Undefined when it was not (recovery gave up on it). Attempts
   * confirmed in the same turn share the statement; each row's change is its own.
   */
  async confirm(
    attempt: Pick<OrderAttempt, "id" | "accountId" | "createTime">,
    priced: { items: PricedItem[]; totalCents: bigint },
  ): Promise<OrderRecord | undefined> {
    const { id } = attempt;
    // The time of the change is chosen here, so that the row and its OrderPlaced event agree.
    const placed: OrderRecord = {
      id,
      accountId: attempt.accountId,
      createTime: attempt.createTime,
      items: priced.items,
      totalCents: priced.totalCents,
      fulfilment: "placed",
      updateTime: new Date(),
      cancelReason: null,
    };
    const confirmed = await this.#confirm(id, {
      id,
      ...priced,
      updateTime: placed.updateTime,
      event: orderPlacedDraft(placed),
    });
    return confirmed ? placed : undefined;
  }

  readonly #confirm = batched<
    string,
    true | undefined,
    { id: string; items: PricedItem[]; totalCents: bigint; updateTime: Date; event: EventDraft }
  >(
    async (_ids, asked) => {
      const events = firstOfEach(asked).map((priced) => priced.event);
      // Everything travels as one JSON parameter: names and descriptions are free text, and
      // prices and totals as strings, since JSON numbers would round past 2^53.
      const attempts = JSON.stringify(
        firstOfEach(asked).map((priced) => ({
          id: priced.id,
          total_cents: String(priced.totalCents),
          update_time: priced.updateTime.toISOString(),
          items: priced.items.map((item, position) => ({
            position,
            product_id: item.productId,
            name: item.name,
            description: item.description,
            unit_price_cents: String(item.unitPriceCents),
            quantity: item.quantity,
          })),
        })),
      );
      const rows = await preparedRows<{ id: string }>(
        this.db,
        sql`with attempts as (
          select * from json_to_recordset(${attempts}::json)
            as a(id uuid, total_cents bigint, update_time timestamptz, items json)
        ), confirmed as (
          update orders o set status = 'confirmed', total_cents = a.total_cents,
            update_time = a.update_time, event_seq = o.event_seq + 1
          from attempts a
          where o.id = a.id and o.status = 'pending'
          returning o.id, o.event_seq
        ), events as (
          ${outboxInsertSql(events, {
            relation: "confirmed",
            thingColumn: "id",
            sequenceColumn: "event_seq",
          })}
        ), items as (
          insert into order_items
            (order_id, position, product_id, name, description, unit_price_cents, quantity)
          select c.id, i.position, i.product_id, i.name, i.description, i.unit_price_cents,
            i.quantity
          from confirmed c join attempts a using (id),
            json_to_recordset(a.items) as i(position int, product_id uuid, name text,
              description text, unit_price_cents bigint, quantity int)
        )
        select id from confirmed`,
      );
      return new Map(rows.map((row) => [row.id, true as const]));
    },
    // An order carries up to 100 items with their names and descriptions (up to ~5 KB each):
    // 32 orders keep one statement's JSON under ~16 MB, where 200 could reach 100 MB and stall
    // the event loop while it is built.
    { maxBatch: 32, missing: () => undefined, maxInFlight: statementsInFlight },
  );

  /**
   * Marks a pending attempt failed for `failure`; `settled` when no reservation can exist.
   * False when it was not pending any more.
   */
  async fail(id: string, failure: OrderFailure, settled: boolean): Promise<boolean> {
    const { orders } = schema;
    const rows = await this.db
      .update(orders)
      .set({ status: "failed", ...failureColumns(failure), settled, updateTime: sql`now()` })
      .where(and(eq(orders.id, id), eq(orders.status, "pending")))
      .returning({ id: orders.id });
    return rows.length > 0;
  }

  /**
   * The catalog now knows the attempt's outcome (reservation committed or released). Marks asked
   * for together share one statement, one text for any batch size. update_time stays (when the
   * order last changed for its owner). Pending attempts stay unsettled: recovery relies on that.
   */
  markSettled(id: string): Promise<void> {
    return this.#markSettled(id);
  }

  readonly #markSettled = batched<string, void>(
    async (ids) => {
      await preparedRows(
        this.db,
        sql`update orders set settled = true
          where id = any(${pgArray(ids)}::uuid[]) and status <> 'pending'`,
      );
      return new Map();
    },
    { maxBatch: 500, missing: () => undefined, maxInFlight: statementsInFlight },
  );

  /**
   * Gives up on attempts pending for longer than `olderThanMs` (their process died or hung):
   * marks them failed and unsettled, so their reservations get released. Returns them.
   */
  async failAbandoned(olderThanMs: number, limit: number): Promise<OrderAttempt[]> {
    const { orders } = schema;
    return this.#failPending(lt(orders.createTime, ago(olderThanMs)), limit);
  }

  /**
   * Gives up on the pending attempts of this instance's earlier boots, whatever their age: the
   * process that was placing them is gone, since this one holds the instance now.
   */
  async failPredecessors(limit: number): Promise<OrderAttempt[]> {
    const prefix = this.#predecessorPrefix;
    if (prefix === undefined || this.#owner === null) return [];
    const { orders } = schema;
    return this.#failPending(
      and(
        sql`left(${orders.owner}, ${prefix.length}::int) = ${prefix}`,
        ne(orders.owner, this.#owner),
      ),
      limit,
    );
  }

  async #failPending(condition: ReturnType<typeof and>, limit: number): Promise<OrderAttempt[]> {
    const { orders } = schema;
    // Never settled while pending (markSettled): the orders_unsettled index finds them, no scan.
    const stale = this.db
      .select({ id: orders.id })
      .from(orders)
      .where(and(eq(orders.status, "pending"), eq(orders.settled, false), condition))
      .limit(limit);
    const rows = await this.db
      .update(orders)
      .set({
        status: "failed",
        ...failureColumns({ reason: "abandoned" }),
        settled: false,
        updateTime: sql`now()`,
      })
      .where(and(inArray(orders.id, stale), eq(orders.status, "pending")))
      .returning();
    return rows.map(toAttempt);
  }

  /** Confirmed or failed attempts whose reservation the catalog has not yet been told about. */
  async unsettled(olderThanMs: number, limit: number): Promise<OrderAttempt[]> {
    const { orders } = schema;
    const rows = await this.db
      .select()
      .from(orders)
      .where(
        and(
          eq(orders.settled, false),
          ne(orders.status, "pending"),
          lt(orders.updateTime, ago(olderThanMs)),
        ),
      )
      .orderBy(asc(orders.updateTime))
      .limit(limit);
    return rows.map(toAttempt);
  }
}
