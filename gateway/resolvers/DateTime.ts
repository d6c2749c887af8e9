// The DateTime scalar: an ISO 8601 instant in UTC, e.g. "2026-11-24T20:25:00.000Z".
import { isMessage } from "@bufbuild/protobuf";
import { TimestampSchema, timestampDate } from "@bufbuild/protobuf/wkt";
import { GraphQLError, GraphQLScalarType, Kind } from "graphql";

function toDate(value: unknown): Date {
  if (value instanceof Date) return value;
  if (isMessage(value, TimestampSchema)) return timestampDate(value);
  if (typeof value === "string") {
    const date = new Date(value);
    if (!Number.isNaN(date.getTime()) && /^\d{4}-\d{2}-\d{2}T/.test(value)) return date;
  }
  throw new GraphQLError("DateTime must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z", {
    extensions: { code: "BAD_USER_INPUT" },
  });
}

export const DateTime = new GraphQLScalarType<Date, string>({
  name: "DateTime",
  description: "An instant in UTC, as an ISO 8601 string.",
  serialize: (value) => toDate(value).toISOString(),
  parseValue: (value) => toDate(value),
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) {
      throw new GraphQLError("DateTime must be a string", {
        extensions: { code: "BAD_USER_INPUT" },
      });
    }
    return toDate(ast.value);
  },
});
