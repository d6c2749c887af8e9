// Request validation: valibot schemas checked once at a handler's top. A failure becomes
// INVALID_ARGUMENT whose message names each bad field and whose details carry them as a
// google.rpc.BadRequest, so clients (the gateway's extensions.fields) can list them.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import * as v from "valibot";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import { uuidPattern } from "./ids.js";

export interface FieldViolation {
  field: string;
  description: string;
}

export function invalidArgument(violations: FieldViolation[]): ConnectError {
  const summary = violations.map((x) => `${x.field}: ${x.description}`).join("; ");
  return new ConnectError(`invalid request: ${summary}`, Code.InvalidArgument, undefined, [
    { desc: BadRequestSchema, value: create(BadRequestSchema, { fieldViolations: violations }) },
  ]);
}

/** The input parsed by `schema`, or INVALID_ARGUMENT listing every violation. */
export function validate<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, input);
  if (result.success) return result.output;
  throw invalidArgument(toViolations(result.issues));
}

function toViolations(issues: readonly v.BaseIssue<unknown>[]): FieldViolation[] {
  const seen = new Set<string>();
  const violations: FieldViolation[] = [];
  for (const issue of issues) {
    const field = fieldPath(issue);
    // One message per field: the first rule it broke is the one worth reading.
    if (seen.has(field)) continue;
    seen.add(field);
    violations.push({ field, description: issue.message });
  }
  return violations;
}

/** `items.2.quantity` → `items[2].quantity`, in the request's proto field names. */
function fieldPath(issue: v.BaseIssue<unknown>): string {
  const keys = issue.path?.map((item) => item.key) ?? [];
  let path = "";
  for (const key of keys) {
    if (typeof key === "number") path += `[${key}]`;
    else path += path === "" ? String(key) : `.${String(key)}`;
  }
  return path === "" ? "request" : path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

// Rules shared by the services' schemas.

/** Length counted in characters (code points), not UTF-16 units, so "é" and "😀" count one. */
export function charLength(min: number, max: number) {
  return v.check<string, string>(
    (s) => {
      const length = [...s].length;
      return length >= min && length <= max;
    },
    min === max ? `must be ${min} characters` : `must be ${min} to ${max} characters`,
  );
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects.
const controlCharacters = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** A single-line display text: trimmed, 1 to `max` characters, no control characters. */
export function displayName(max: number) {
  return v.pipe(
    v.string(),
    v.trim(),
    charLength(1, max),
    v.check(
      (s) => !/[\r\n\t]/.test(s) && !controlCharacters.test(s),
      "must not contain control characters or line breaks",
    ),
  );
}

/** Free text that may span lines, but without other control characters. */
export function freeText(max: number) {
  return v.pipe(
    v.string(),
    charLength(0, max),
    v.check((s) => !controlCharacters.test(s), "must not contain control characters"),
  );
}

export const uuidField = v.pipe(
  v.string(),
  v.regex(uuidPattern, "must be a UUID"),
  v.toLowerCase(),
);

/** skip ≥ 0 and take 1–100, where an unset take (0) means 20. */
export const paginationEntries = {
  skip: v.pipe(v.number(), v.integer(), v.minValue(0, "must be 0 or more")),
  take: v.pipe(
    v.number(),
    v.integer(),
    v.transform((n) => (n === 0 ? 20 : n)),
    v.minValue(1, "must be 1 to 100 (0 means 20)"),
    v.maxValue(100, "must be 1 to 100"),
  ),
};
