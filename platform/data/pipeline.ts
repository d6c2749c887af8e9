// A whole transaction in one round trip: BEGIN, the statements and COMMIT written to the
// database together, for the group commits of a hot path (the catalog's reservations of one
// BatchReserveStock). drizzle's `db.transaction` waits for each of them in turn, and sends each
// statement unprepared (Parse and Describe, an answer, then Bind and Execute: two round trips).
import type { SQL } from "drizzle-orm";
import type { Database } from "./database.js";
import { postgresClient, queryOf } from "./prepared.js";

/** The "current transaction is aborted" error of the statements after a failed one. */
const PG_IN_FAILED_TRANSACTION = "25P02";

/**
 * Runs `statements` in one transaction sent at once, and answers each statement's rows in
 * order. All or nothing: when a statement fails, PostgreSQL refuses the ones after it and the
 * COMMIT rolls back; the first failure is thrown. The statements are prepared on their
 * connection, so they should be few texts run many times (the values vary, not the text).
 */
export async function pipelinedTransaction(
  db: Database<Record<string, unknown>>,
  statements: readonly SQL[],
): Promise<Record<string, unknown>[][]> {
  const connection = await postgresClient(db).reserve();
  try {
    // postgres.js sends a query when asked to execute it, in that order, and writes what was
    // asked for in one turn of the event loop together.
    const begin = connection.unsafe("begin").execute();
    const queries = statements.map((statement) => {
      const query = queryOf(statement);
      return connection.unsafe(query.sql, query.params, { prepare: true }).execute();
    });
    const commit = connection.unsafe("commit").execute();
    const outcomes = await Promise.allSettled([begin, ...queries, commit]);
    const failures = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason] : []));
    const first =
      failures.find((e) => (e as { code?: unknown }).code !== PG_IN_FAILED_TRANSACTION) ??
      failures[0];
    if (failures.length > 0) throw first;
    return outcomes
      .slice(1, -1)
      .map((o) => (o as PromiseFulfilledResult<Record<string, unknown>[]>).value);
  } finally {
    connection.release();
  }
}
