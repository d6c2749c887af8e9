// Statements of constant text, sent prepared. drizzle prepares only what is made with
// `.prepare(name)`; everything else goes out unprepared (Parse and Describe, an answer, then
// Bind and Execute: two round trips and a plan each time), and a multi-row insert built by its
// query builder has a new text for every batch size, and costs its building on every call.
// A hot group commit written here as one text over a JSON parameter gets neither cost.
import { getTableColumns, type SQL } from "drizzle-orm";
import { PgDialect, type PgTable } from "drizzle-orm/pg-core";
import type postgres from "postgres";
import type { Database } from "./database.js";

const dialect = new PgDialect();

/** The postgres.js client under a drizzle database. */
export function postgresClient(db: Database<Record<string, unknown>>): postgres.Sql {
  return (db as unknown as { $client: postgres.Sql }).$client;
}

/** A drizzle statement as the text and parameters postgres.js sends. */
export function queryOf(statement: SQL): {
  sql: string;
  params: postgres.ParameterOrJSON<never>[];
} {
  const query = dialect.sqlToQuery(statement);
  return { sql: query.sql, params: query.params as postgres.ParameterOrJSON<never>[] };
}

/** Runs `statement` prepared on its connection (keep its text constant) and answers its rows. */
export async function preparedRows<T = Record<string, unknown>>(
  db: Database<Record<string, unknown>>,
  statement: SQL,
): Promise<T[]> {
  const query = queryOf(statement);
  const rows = await postgresClient(db).unsafe(query.sql, query.params, {
    prepare: true,
  });
  return rows as unknown as T[];
}

/**
 * A `returning *` row of `table` as drizzle's own queries give it: its columns under their
 * field names, each value read by its column (bigints, timestamps, enums) as drizzle reads it.
 */
export function tableRow<T extends PgTable>(
  table: T,
  raw: Record<string, unknown>,
): T["$inferSelect"] {
  const row: Record<string, unknown> = {};
  for (const [field, column] of Object.entries(getTableColumns(table))) {
    const value = raw[column.name];
    row[field] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return row as T["$inferSelect"];
}
