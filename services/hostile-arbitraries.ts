// fast-check arbitraries for hostile RPC requests, derived from the request's protobuf
// descriptor: Connect JSON bodies (wrong types, missing and unknown fields, boundary strings
// and numbers, truncated or garbage text) and gRPC frames (random typed messages, then
// truncated, corrupted, padded or lying about their length). Test support only.
import { create, type DescField, type DescMessage, ScalarType, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";

const megabyte = "x".repeat(1024 * 1024);

/** Strings a careful client never sends. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 30, arbitrary: fc.string({ maxLength: 40 }) },
  {
    weight: 30,
    arbitrary: fc.string({
      unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
      maxLength: 20,
    }),
  },
  {
    weight: 40,
    arbitrary: fc.constantFrom(
      "",
      " ",
      "\u0000",
      "admin\u0000@example.com",
      "\ud800",
      "a\udc00b",
      "\u202eevil\u202c",
      "שלום عليكم",
      "\u0085",
      "\u007f",
      "\t\n\r",
      "😀".repeat(101),
      "' or 1=1 --",
      "'; drop table accounts; --",
      "%00",
      "../../etc/passwd",
      "00000000-0000-0000-0000-000000000000",
      "0190A7B0-0000-7000-8000-00000000000G",
      "admin@example.com",
      "a@b.c",
      "x".repeat(101),
      "x".repeat(1001),
    ),
  },
  { weight: 20, arbitrary: fc.uuid() },
  { weight: 10, arbitrary: fc.emailAddress() },
  // Rare: it costs a megabyte on the wire each time.
  { weight: 1, arbitrary: fc.constant(megabyte) },
);

/** Numbers at and past every limit the services have, as JSON accepts them. */
const hostileNumber: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    0,
    -1,
    1,
    20,
    99,
    100,
    101,
    999,
    1000,
    1001,
    2 ** 31 - 1,
    2 ** 31,
    -(2 ** 31),
    2 ** 32,
    2 ** 53,
    1.5,
    -0.5,
    1e308,
    "NaN",
    "Infinity",
    "-Infinity",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "1e3",
    "0x10",
  ),
  fc.integer(),
  fc.double({ noNaN: true }),
);

const wrongType: fc.Arbitrary<unknown> = fc.constantFrom(null, true, false, [], {}, "", 1, [1], {
  a: 1,
});

function jsonScalar(field: DescField): fc.Arbitrary<unknown> {
  if (field.fieldKind === "enum" || field.fieldKind === "scalar") {
    const isString = field.fieldKind === "scalar" && field.scalar === ScalarType.STRING;
    return fc.oneof(
      { weight: 6, arbitrary: isString ? hostileString : hostileNumber },
      { weight: 1, arbitrary: isString ? hostileNumber : hostileString },
      { weight: 1, arbitrary: wrongType },
    );
  }
  return wrongType;
}

/** A Connect JSON object for `desc`: every field maybe absent, maybe of the wrong type. */
export function jsonMessage(desc: DescMessage, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const entries: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of desc.fields) {
    entries[field.jsonName] = jsonField(field, depth);
  }
  return fc
    .tuple(
      fc.record(entries, { requiredKeys: [] }),
      fc.option(fc.dictionary(fc.string({ maxLength: 8 }), wrongType, { maxKeys: 3 }), {
        freq: 4,
      }),
    )
    .map(([known, unknown]) => ({ ...(unknown ?? {}), ...known }));
}

function jsonField(field: DescField, depth: number): fc.Arbitrary<unknown> {
  const element = (): fc.Arbitrary<unknown> =>
    field.message && depth < 3 ? jsonMessage(field.message, depth + 1) : jsonScalar(field);
  if (field.fieldKind === "list") {
    return fc.oneof(
      { weight: 6, arbitrary: fc.array(element(), { maxLength: 5 }) },
      // Past the 1000-item limits of the batch calls (small items: the length is the point).
      {
        weight: 1,
        arbitrary: fc
          .integer({ min: 999, max: 1002 })
          .map((n) =>
            new Array(n).fill(field.message ? {} : "0190a7b0-0000-7000-8000-000000000001"),
          ),
      },
      { weight: 1, arbitrary: wrongType },
    );
  }
  if (field.fieldKind === "message") {
    return fc.oneof({ weight: 4, arbitrary: element() }, { weight: 1, arbitrary: wrongType });
  }
  return element();
}

/** A Connect JSON body: usually a JSON object, sometimes text that is not one. */
export function jsonBody(desc: DescMessage): fc.Arbitrary<Uint8Array> {
  const text = jsonMessage(desc).map((m) => JSON.stringify(m));
  return fc.oneof(
    { weight: 12, arbitrary: text.map((t) => Buffer.from(t)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(text, fc.nat())
        .map(([t, n]) => Buffer.from(t.slice(0, n % (t.length + 1)))),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom("null", "[]", '"x"', "1", "{", "{}}", "\u0000")
        .map((t) => Buffer.from(t)),
    },
  );
}

/** A valid message of `desc` holding hostile but well-typed values, in protobuf binary. */
function binaryMessage(desc: DescMessage, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const entries: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of desc.fields) {
    const one = typedValue(field, depth);
    if (one)
      entries[field.localName] = field.fieldKind === "list" ? fc.array(one, { maxLength: 5 }) : one;
  }
  return fc.record(entries, { requiredKeys: [] });
}

function typedValue(field: DescField, depth: number): fc.Arbitrary<unknown> | undefined {
  if (field.message) {
    if (depth >= 3) return undefined;
    return binaryMessage(field.message, depth + 1).map((init) =>
      create(field.message as DescMessage, init),
    );
  }
  if (field.fieldKind === "enum" || (field.fieldKind === "list" && field.listKind === "enum"))
    return fc.integer({ min: -1, max: 5 });
  const scalar = field.scalar;
  switch (scalar) {
    case ScalarType.STRING:
      return hostileString;
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 16 });
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return fc.oneof(
        fc.constantFrom(0n, -1n, 2n ** 63n - 1n, -(2n ** 63n)),
        fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n),
      );
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return fc.oneof(fc.constantFrom(0n, 2n ** 64n - 1n), fc.bigInt(0n, 2n ** 64n - 1n));
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.oneof(fc.constantFrom(0, 100, 101, 1000, 1001, 2 ** 32 - 1), fc.nat());
    case ScalarType.FLOAT:
    case ScalarType.DOUBLE:
      return fc.double();
    default:
      return fc.oneof(
        fc.constantFrom(0, -1, 100, 101, 1000, 1001, 2 ** 31 - 1, -(2 ** 31)),
        fc.integer(),
      );
  }
}

const frame = (body: Uint8Array, flags = 0, length = body.length) => {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(length, 1);
  return Buffer.concat([head, body]);
};

/** A gRPC request body for `desc`: a framed message, often damaged on the way. */
export function grpcBody(desc: DescMessage): fc.Arbitrary<Uint8Array> {
  const bytes = binaryMessage(desc).map((init) => toBinary(desc, create(desc, init)));
  return fc.oneof(
    { weight: 10, arbitrary: bytes.map((b) => frame(b)) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(bytes, fc.nat())
        .map(([b, n]) => frame(b.subarray(0, n % (b.length + 1)))),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(bytes, fc.nat(), fc.integer({ min: 0, max: 255 }))
        .map(([b, at, byte]) => {
          const copy = Uint8Array.from(b);
          if (copy.length > 0) copy[at % copy.length] = byte;
          return frame(copy);
        }),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(bytes, fc.uint8Array({ minLength: 1, maxLength: 32 }))
        .map(([b, g]) => frame(Buffer.concat([b, g]))),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((g) => frame(g)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(bytes, fc.integer({ min: 1, max: 100 }))
        .map(([b, extra]) => frame(b, 0, b.length + extra)),
    },
    { weight: 1, arbitrary: bytes.map((b) => frame(b, 1)) },
    { weight: 1, arbitrary: bytes.map((b) => Buffer.concat([frame(b), frame(b)])) },
  );
}

/** A unary call over HTTP/1.1: its content type and body. */
export interface Http1Call {
  contentType: string;
  body: Uint8Array;
}

/**
 * A unary call's body as gRPC-Web or gRPC over HTTP/1.1, JSON or binary: a framed message, then
 * often more — a few bytes, or up to 200,000 (past what Node buffers for a request nobody reads:
 * the shape that left the connection's next request hanging until the keep-alive timeout).
 */
export function http1EnvelopedCall(desc: DescMessage): fc.Arbitrary<Http1Call> {
  const tail = fc.oneof(
    { weight: 4, arbitrary: fc.constant(new Uint8Array(0)) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 16_000, max: 200_000 }), fc.integer({ min: 0, max: 255 }))
        .map(([length, byte]) => new Uint8Array(length).fill(byte)),
    },
  );
  const json = fc.tuple(
    fc.constantFrom("application/grpc-web+json", "application/grpc+json"),
    jsonBody(desc).map((b) => frame(b)),
  );
  const binary = fc.tuple(
    fc.constantFrom("application/grpc-web+proto", "application/grpc-web", "application/grpc"),
    grpcBody(desc),
  );
  return fc
    .tuple(fc.oneof(json, binary), tail)
    .map(([[contentType, body], more]) => ({ contentType, body: Buffer.concat([body, more]) }));
}
