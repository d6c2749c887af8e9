// Reading placed orders: one by id, each account's, and every account's page by page. Only
// confirmed attempts are orders; an attempt that failed is no order and is never shown.
import { and, desc, eq, sql } from "drizzle-orm";
import { pgArray } from "../../../platform/data/database.js";
import type { Fulfilment, OrderRecord } from "../records.js";
import { orderItems, orders } from "../schema.js";
import type { Executor, OrderDb } from "./db.js";

/** An order item as the reads return it: product id, name, description, price, quantity. */
type ItemTuple = [string, string, string, string, number];

/**
 * One row per order with its items as one JSON array in position order (prices as text: JSON
 * numbers would round past 2^53), instead of one joined row per item.
 */
function selectOrders(db: Executor) {
  return db
    .select({
      id: orders.id,
      accountId: orders.accountId,
      totalCents: orders.totalCents,
      createTime: orders.createTime,
      updateTime: orders.updateTime,
      fulfilment: orders.fulfilment,
      cancelReason: orders.cancelReason,
      items: sql<ItemTuple[] | null>`(select json_agg(json_build_array(i.product_id,
            i.name, i.description, i.unit_price_cents::text, i.quantity) order by i.position)
            from ${orderItems} i where i.order_id = ${orders.id})`,
    })
    .from(orders);
}

/** The placed order `id` as `db` sees it (inside a transaction: as that transaction does). */
export async function readOrder(db: Executor, id: string): Promise<OrderRecord | undefined> {
  const rows = await selectOrders(db).where(and(eq(orders.id, id), eq(orders.status, "confirmed")));
  return toOrderRecords(rows)[0];
}

/**
 * The placed orders among `ids` as `db` sees them (WatchOrders reads them inside its snapshot's
 * transaction, so that they agree with the outbox's sequences).
 */
export async function readOrders(db: Executor, ids: readonly string[]): Promise<OrderRecord[]> {
  return toOrderRecords(
    await selectOrders(db).where(
      and(sql`${orders.id} = any(${pgArray(ids)}::uuid[])`, eq(orders.status, "confirmed")),
    ),
  );
}

export class OrderReads {
  // Built once: drizzle then only fills in the parameters on each call, and postgres.js keeps
  // them as prepared statements on each connection.
  readonly #byId;
  readonly #byAccounts;

  constructor(private readonly db: OrderDb) {
    this.#byId = selectOrders(db)
      .where(and(eq(orders.id, sql.placeholder("id")), eq(orders.status, "confirmed")))
      .prepare("order_confirmed_by_id");
    this.#byAccounts = selectOrders(db)
      .where(
        and(
          sql`${orders.accountId} = any(${sql.placeholder("ids")}::uuid[])`,
          eq(orders.status, "confirmed"),
        ),
      )
      // Newest first; time-ordered ids break ties.
      .orderBy(desc(orders.createTime), desc(orders.id))
      .prepare("orders_confirmed_by_accounts");
  }

  async find(id: string): Promise<OrderRecord | undefined> {
    const [order] = toOrderRecords(await this.#byId.execute({ id }));
    return order;
  }

  /** Placed orders of each account, newest first, in one query whatever the number of accounts. */
  async listForAccounts(accountIds: readonly string[]): Promise<Map<string, OrderRecord[]>> {
    const byAccount = new Map<string, OrderRecord[]>(accountIds.map((id) => [id, []]));
    if (accountIds.length === 0) return byAccount;
    const rows = await this.#byAccounts.execute({ ids: pgArray(accountIds) });
    for (const order of toOrderRecords(rows)) byAccount.get(order.accountId)?.push(order);
    return byAccount;
  }

  /** Every account's placed orders, newest first, optionally only those in `fulfilment`. */
  async list(page: {
    fulfilment: Fulfilment | undefined;
    skip: number;
    take: number;
  }): Promise<OrderRecord[]> {
    const rows = await selectOrders(this.db)
      .where(
        and(
          eq(orders.status, "confirmed"),
          page.fulfilment === undefined ? undefined : eq(orders.fulfilment, page.fulfilment),
        ),
      )
      .orderBy(desc(orders.createTime), desc(orders.id))
      .offset(page.skip)
      .limit(page.take);
    return toOrderRecords(rows);
  }
}

/** Orders as the reads return them; one without items (none is) is left out. */
function toOrderRecords(
  rows: {
    id: string;
    accountId: string;
    totalCents: bigint | null;
    createTime: Date;
    updateTime: Date;
    fulfilment: Fulfilment;
    cancelReason: string | null;
    items: ItemTuple[] | null;
  }[],
): OrderRecord[] {
  const result: OrderRecord[] = [];
  for (const row of rows) {
    if (!row.items || row.items.length === 0) continue;
    result.push({
      ...row,
      totalCents: row.totalCents ?? 0n,
      items: row.items.map(([productId, name, description, unitPriceCents, quantity]) => ({
        productId,
        name,
        description,
        unitPriceCents: BigInt(unitPriceCents),
        quantity,
      })),
    });
  }
  return result;
}
