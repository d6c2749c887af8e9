// Request validation: valibot schemas checked once at a handler's top. A failure becomes
// INVALID_ARGUMENT whose message names each bad field and whose details carry them as a
// google.rpc.BadRequest, so clients (the gateway's extensions.fields) can list them.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import * as v from "valibot";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { uuidPattern } from "../data/ids.js";

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

/**
 * The input parsed by `schema`, or INVALID_ARGUMENT listing every violation. Every string in
 * the input, whatever its schema says, is first checked for characters no field accepts.
 */
export function validate<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const unsafe = unsafeStrings(input);
  const result = v.safeParse(schema, input);
  if (result.success && unsafe.length === 0) return result.output;
  throw invalidArgument(toViolations(unsafe, result.success ? [] : result.issues));
}

function toViolations(
  first: readonly FieldViolation[],
  issues: readonly v.BaseIssue<unknown>[],
): FieldViolation[] {
  const seen = new Set<string>();
  const violations: FieldViolation[] = [];
  const candidates = [
    ...first,
    ...issues.map((issue) => ({
      field: fieldPath(issue.path?.map((item) => item.key) ?? []),
      description: issue.message,
    })),
  ];
  for (const violation of candidates) {
    // One message per field: the first rule it broke is the one worth reading.
    if (seen.has(violation.field)) continue;
    seen.add(violation.field);
    violations.push(violation);
  }
  return violations;
}

// C0 controls but tab, line feed and carriage return (which multi-line fields may hold; the
// single-line rules refuse them), DEL, C1 controls, and UTF-16 halves without their pair.
// None has a place in a name, an address or a query, and NUL in particular breaks PostgreSQL.
const forbiddenCharacter =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds.
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const unsafeDescription = "must not contain control characters or unpaired surrogates";

/** A violation for each string anywhere in `input` that holds a forbidden character. */
function unsafeStrings(input: unknown): FieldViolation[] {
  const found: FieldViolation[] = [];
  const visit = (value: unknown, keys: (string | number)[]) => {
    if (typeof value === "string") {
      if (forbiddenCharacter.test(value)) {
        found.push({ field: fieldPath(keys), description: unsafeDescription });
      }
    } else if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) visit(item, [...keys, index]);
    } else if (value !== null && typeof value === "object" && !ArrayBuffer.isView(value)) {
      for (const [key, item] of Object.entries(value)) {
        if (key !== "$typeName" && key !== "$unknown") visit(item, [...keys, key]);
      }
    }
  };
  visit(input, []);
  return found;
}

/** `items.2.quantity` → `items[2].quantity`, in the request's proto field names. */
function fieldPath(keys: readonly unknown[]): string {
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

const controlCharacters = forbiddenCharacter;

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

/** The contract's page sizes: `take` defaults to 20 and is at most 100 (the gateway's too). */
export const defaultTake = 20;
export const maxTake = 100;

/** skip ≥ 0 and take 1–maxTake, where an unset take (0) means defaultTake. */
export const paginationEntries = {
  skip: v.pipe(v.number(), v.integer(), v.minValue(0, "must be 0 or more")),
  take: v.pipe(
    v.number(),
    v.integer(),
    v.transform((n) => (n === 0 ? defaultTake : n)),
    v.minValue(1, `must be 1 to ${maxTake} (0 means ${defaultTake})`),
    v.maxValue(maxTake, `must be 1 to ${maxTake}`),
  ),
};
