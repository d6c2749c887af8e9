// Recording domain events in the outbox, inside the transaction (or the very statement) that
// makes the change. Two ways, one table:
// - `recordEvents(tx, events)`: the change already returned the thing's new event_seq, so each
//   event is complete (rare writes: products, accounts).
// - `outboxInsertSql(...)`: a CTE body for a hot statement that bumps event_seq itself; the
//   payload is encoded before the statement and the statement appends the fields only it knows
//   (the sequence, a new stock, and optionally the instant of the change) as protobuf fields,
//   which a decoder merges into the message.
import {
  create,
  type DescMessage,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type SQL, sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { uuidv7 } from "../data/ids.js";

/** Field 3 of every event message (proto/bazaar/<service>/v1/events.proto). */
export const sequenceField = 3;

/** Field 2 of every event message: occur_time, a google.protobuf.Timestamp. */
export const occurTimeField = 2;

/** An event encoded but not yet numbered: its payload lacks the sequence. */
export interface EventDraft {
  eventId: string;
  /** bazaar.<service>.v1.<Event>: the message's full name. */
  subject: string;
  thingId: string;
  payload: Uint8Array;
  occurTime: Date;
}

/** An event ready for the outbox. */
export interface EventRecord extends EventDraft {
  sequence: number;
}

/** The fields every event message shares; the rest is the event's own. */
type OwnFields<Desc extends DescMessage> = Omit<
  MessageInitShape<Desc>,
  "eventId" | "occurTime" | "sequence" | "$typeName"
>;

/**
 * Encodes one event about `thingId`: a fresh event id, `now` as its occur_time, and `sequence`
 * when the caller knows it (else the statement appends it: see outboxInsertSql). With
 * `stampedByStatement` the payload leaves occur_time out: the statement writes the instant it
 * makes the change (outboxInsertSql's `stampOccurTime`).
 */
export function draftEvent<Desc extends DescMessage>(
  schema: Desc,
  thingId: string,
  fields: OwnFields<Desc>,
  options: { sequence?: number; now?: Date; stampedByStatement?: boolean } = {},
): EventDraft {
  const occurTime = options.now ?? new Date();
  const eventId = uuidv7(occurTime.getTime());
  const message = create(schema, {
    ...fields,
    eventId,
    ...(options.stampedByStatement ? {} : { occurTime: timestampFromDate(occurTime) }),
    ...(options.sequence === undefined ? {} : { sequence: BigInt(options.sequence) }),
  } as unknown as MessageInitShape<Desc>) as MessageShape<Desc>;
  return {
    eventId,
    subject: schema.typeName,
    thingId,
    payload: toBinary(schema, message),
    occurTime,
  };
}

/** `draftEvent` with the sequence known: ready for `recordEvents`. */
export function newEvent<Desc extends DescMessage>(
  schema: Desc,
  thingId: string,
  sequence: number,
  fields: OwnFields<Desc>,
  now?: Date,
): EventRecord {
  return {
    ...draftEvent(schema, thingId, fields, { sequence, ...(now ? { now } : {}) }),
    sequence,
  };
}

// biome-ignore lint/suspicious/noExplicitAny: any service's database or transaction will do.
type Executor = PgDatabase<PgQueryResultHKT, any, any>;

/** Writes complete events into the outbox, as part of `tx` (the change's transaction). */
export async function recordEvents(tx: Executor, events: readonly EventRecord[]): Promise<void> {
  if (events.length === 0) return;
  await tx.execute(
    sql`insert into outbox (event_id, subject, thing_id, sequence, payload, occur_time)
      select e.event_id, e.subject, e.thing_id, e.sequence, decode(e.payload, 'base64'),
        e.occur_time
      from json_to_recordset(${eventsJson(events)}::json)
        as e(event_id uuid, subject text, thing_id uuid, sequence bigint, payload text,
          occur_time timestamptz)`,
  );
}

/**
 * The body of a CTE (`events as (…)`) inserting `drafts` into the outbox, at most one per
 * thing, numbered by `numbered`: a relation of the same statement (a CTE that has just run
 * `event_seq = event_seq + 1 … returning`) whose `thingColumn` is the thing's id and
 * `sequenceColumn` its new event_seq. A draft whose thing is not in `numbered` (the change did
 * not happen) is not recorded. `fields` appends more of the relation's non-negative integer
 * columns to the payload, as protobuf fields of those numbers. `stampOccurTime` makes the
 * event's occur_time (column and payload alike) the instant the statement records it
 * (clock_timestamp(), after the statement's row locks are held) rather than the draft's: for
 * drafts made with `stampedByStatement`, whose change may wait its turn for those locks.
 */
export function outboxInsertSql(
  drafts: readonly EventDraft[],
  numbered: {
    relation: string;
    thingColumn: string;
    sequenceColumn: string;
    fields?: readonly { number: number; column: string }[];
    stampOccurTime?: boolean;
  },
): SQL {
  const key = JSON.stringify(numbered);
  let text = outboxSqlTexts.get(key);
  if (text === undefined) {
    text = outboxSqlText(numbered);
    outboxSqlTexts.set(key, text);
  }
  return sql`${sql.raw(text.head)}${eventsJson(drafts)}${sql.raw(text.tail)}`;
}

/**
 * outboxInsertSql's SQL around its one parameter, by its options: the same few kilobytes for
 * every statement of a hot path (each varint field is a case of nested set_byte calls), so
 * made once per set of options (a handful per service) rather than per statement.
 */
const outboxSqlTexts = new Map<string, { head: string; tail: string }>();

function outboxSqlText(numbered: Parameters<typeof outboxInsertSql>[1]) {
  const n = (column: string) => `n.${identifier(column)}`;
  const occurTime = numbered.stampOccurTime ? "t.at" : "e.occur_time";
  const appended = [
    varintField(sequenceField, n(numbered.sequenceColumn)),
    ...(numbered.fields ?? []).map((f) => varintField(f.number, n(f.column))),
    ...(numbered.stampOccurTime ? [timestampField(occurTimeField, occurTime)] : []),
  ].join(" || ");
  // One clock reading per event row, shared by the column and the payload.
  const stamp = numbered.stampOccurTime
    ? "cross join lateral (select clock_timestamp() as at) t"
    : "";
  return {
    head: `insert into outbox (event_id, subject, thing_id, sequence, payload, occur_time)
    select e.event_id, e.subject, e.thing_id, ${n(numbered.sequenceColumn)},
      decode(e.payload, 'base64') || ${appended}, ${occurTime}
    from json_to_recordset(`,
    tail: `::json)
      as e(event_id uuid, subject text, thing_id uuid, payload text, occur_time timestamptz)
      join ${identifier(numbered.relation)} n
        on ${n(numbered.thingColumn)} = e.thing_id ${stamp}`,
  };
}

/** Events as one JSON parameter (payloads in base64): one parameter however many events. */
function eventsJson(events: readonly (EventDraft & { sequence?: number })[]): string {
  return JSON.stringify(
    events.map((e) => ({
      event_id: e.eventId,
      subject: e.subject,
      thing_id: e.thingId,
      ...(e.sequence === undefined ? {} : { sequence: e.sequence }),
      payload: Buffer.from(e.payload).toString("base64"),
      occur_time: e.occurTime.toISOString(),
    })),
  );
}

/**
 * SQL for a protobuf varint field `number` holding the non-negative bigint `value`: the tag
 * byte, then 7 bits a byte, low bits first, the high bit saying another byte follows. Values
 * below 2^35 (every stock and sequence in practice) take a scalar expression of nested
 * set_byte calls, one branch per length; larger ones a loop over generate_series. The scalar
 * form runs once per event row of a hot statement, where a subquery per row cost the backend
 * several times as much.
 */
export function varintField(number: number, value: string): string {
  if (!Number.isInteger(number) || number < 1 || number > 15) {
    throw new Error(`field ${number}: only fields 1–15 have a one-byte tag`);
  }
  const tag = (number << 3).toString(16).padStart(2, "0");
  const v = `(${value})::bigint`;
  const branches = [1, 2, 3, 4, 5].map((length) => {
    let bytes = `'\\x${"00".repeat(length)}'::bytea`;
    for (let i = 0; i < length; i++) {
      const more = i < length - 1 ? " | 128" : "";
      bytes = `set_byte(${bytes}, ${i}, ((${v} >> ${7 * i}) & 127)::int${more})`;
    }
    return `when ${v} < ${2 ** (7 * length)} then ${bytes}`;
  });
  const loop = `(select string_agg(set_byte('\\x00'::bytea, 0,
      ((${v} >> (7 * i)) & 127)::int | case when ${v} >> (7 * (i + 1)) > 0 then 128 else 0 end),
      ''::bytea order by i)
    from generate_series(0, 8) i where i = 0 or ${v} >> (7 * i) > 0)`;
  return `('\\x${tag}'::bytea || case ${branches.join(" ")} else ${loop} end)`;
}

/**
 * SQL for a protobuf field `number` holding a google.protobuf.Timestamp of the timestamptz
 * `value`: the tag, the length, then seconds (field 1) and nanos (field 2), both written even
 * when zero, so that it replaces whatever an earlier occurrence of the field held (a decoder
 * merges repeated message fields). Microseconds are PostgreSQL's precision.
 */
export function timestampField(number: number, value: string): string {
  if (!Number.isInteger(number) || number < 1 || number > 15) {
    throw new Error(`field ${number}: only fields 1–15 have a one-byte tag`);
  }
  const tag = ((number << 3) | 2).toString(16).padStart(2, "0");
  const seconds = varintField(1, `floor(extract(epoch from ${value}))`);
  const nanos = varintField(2, `(extract(microseconds from ${value})::bigint % 1000000) * 1000`);
  const message = `(${seconds} || ${nanos})`;
  // At most 12 bytes (two one-byte tags, two varints of up to 5 bytes): a one-byte length.
  return `('\\x${tag}'::bytea || set_byte('\\x00'::bytea, 0, length(${message})) || ${message})`;
}

function identifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain SQL identifier: ${name}`);
  return name;
}
