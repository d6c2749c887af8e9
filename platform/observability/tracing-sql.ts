// Spans for SQL statements. postgres.js has no official OpenTelemetry instrumentation, so the
// client drizzle uses is wrapped: every statement drizzle sends goes through `unsafe` (inside a
// transaction too, through the transaction's own client, or a reserved connection's), and gets
// a client span following the database semantic conventions, inside the trace of the request
// that runs it. Only applied when tracing is on.
import { type Attributes, context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type postgres from "postgres";
import { activeTracer } from "./tracing.js";

type Sql = postgres.Sql | postgres.TransactionSql;

/** `client` with a span around each statement drizzle runs through it. */
export function tracedSql<T extends Sql>(client: T, url: string): T {
  const where = new URL(url);
  const base: Attributes = {
    "db.system.name": "postgresql",
    "db.namespace": decodeURIComponent(where.pathname.slice(1)),
    "server.address": where.hostname,
    "server.port": Number(where.port || 5432),
  };
  const wrap = <C extends Sql>(sql: C): C =>
    new Proxy(sql, {
      get(target, property, receiver) {
        if (property === "unsafe") {
          return (query: string, ...rest: unknown[]) => {
            const pending = (target.unsafe as (...args: unknown[]) => Promise<unknown>)(
              query,
              ...rest,
            );
            observe(pending, query, base);
            return pending;
          };
        }
        // Transactions and savepoints hand their callback a client of their own: wrap it too.
        if (property === "begin" || property === "savepoint") {
          const original = Reflect.get(target, property, receiver) as (...a: unknown[]) => unknown;
          return (...args: unknown[]) => {
            const callback = args.pop() as (tx: Sql) => unknown;
            return original(...args, (tx: Sql) => callback(wrap(tx)));
          };
        }
        // A reserved connection (platform/data/pipeline.ts) runs statements of its own too.
        if (property === "reserve") {
          const original = Reflect.get(target, property, receiver) as () => Promise<Sql>;
          return async () => wrap(await original());
        }
        return Reflect.get(target, property, receiver);
      },
    });
  return wrap(client);
}

const operationPattern = /^\s*(\w+)/;
const tablePattern = /\b(?:from|into|update)\s+"?(\w+)"?/i;

function observe(pending: Promise<unknown>, query: string, base: Attributes): void {
  const tracer = activeTracer();
  // A statement is traced as part of a request's trace only: the background loops (the outbox
  // tail every 50 ms, the relay, pruning) would otherwise fill the trace store with one-span
  // traces of their polls.
  if (!tracer || !trace.getSpan(context.active())) return;
  const operation = operationPattern.exec(query)?.[1]?.toUpperCase() ?? "SQL";
  const table = tablePattern.exec(query)?.[1];
  const attributes: Attributes = {
    ...base,
    "db.operation.name": operation,
    "db.query.text": query,
    ...(table ? { "db.collection.name": table } : {}),
  };
  const name = `${operation} ${table ?? base["db.namespace"]}`;
  const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, context.active());
  // postgres.js runs a query when someone calls its own `then`; the plain Promise `then` only
  // listens, so the span ends with the statement without starting it early.
  Promise.prototype.then.call(
    pending,
    () => span.end(),
    (error: unknown) => {
      const code = (error as { code?: unknown }).code;
      if (typeof code === "string") span.setAttribute("db.response.status_code", code);
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: code === undefined ? "" : String(code),
      });
      span.end();
    },
  );
}
