// What the order service's stores share: the database type, its transactions, and time on the
// database's clock.
import { sql } from "drizzle-orm";
import type { Database } from "../../../platform/data/database.js";
import type * as schema from "../schema.js";

export type OrderDb = Database<typeof schema>;
export type Tx = Parameters<Parameters<OrderDb["transaction"]>[0]>[0];
export type Executor = OrderDb | Tx;

/** A moment `ms` before the database's now, on the database's clock. */
export function ago(ms: number) {
  return sql`now() - ${ms}::float8 * interval '1 millisecond'`;
}
