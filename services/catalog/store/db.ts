// What the catalog's stores share: the database type and the retrying transaction.
import {
  type Database,
  PG_DEADLOCK_DETECTED,
  PG_SERIALIZATION_FAILURE,
  pgErrorCode,
} from "../../../platform/data/database.js";
import type * as schema from "../schema.js";

export type CatalogDb = Database<typeof schema>;
export type Tx = Parameters<Parameters<CatalogDb["transaction"]>[0]>[0];
export type Executor = CatalogDb | Tx;

const retryableCodes = new Set([PG_SERIALIZATION_FAILURE, PG_DEADLOCK_DETECTED]);

/** A transaction, retried when PostgreSQL gives up on it (deadlock or serialization). */
export function retryingTransaction<T>(db: CatalogDb, work: (tx: Tx) => Promise<T>): Promise<T> {
  return retryingOnConflict(() => db.transaction(work));
}

/** `run` (a transaction), again when PostgreSQL gave up on it for a concurrent one. */
export async function retryingOnConflict<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      const code = pgErrorCode(error);
      if (attempt >= 5 || code === undefined || !retryableCodes.has(code)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 * 2 ** attempt * Math.random()));
    }
  }
}
