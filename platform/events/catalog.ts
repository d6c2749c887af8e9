// Every Bazaar event type by subject, to decode what a stream holds (`npm run events`, tests).
import { type DescMessage, fromBinary, type JsonValue, toJson } from "@bufbuild/protobuf";
import { file_bazaar_account_v1_events } from "../../gen/bazaar/account/v1/events_pb.js";
import { file_bazaar_catalog_v1_events } from "../../gen/bazaar/catalog/v1/events_pb.js";
import { file_bazaar_order_v1_events } from "../../gen/bazaar/order/v1/events_pb.js";

const eventTypes = new Map<string, DescMessage>(
  [file_bazaar_account_v1_events, file_bazaar_catalog_v1_events, file_bazaar_order_v1_events]
    .flatMap((file) => file.messages)
    .map((message) => [message.typeName, message]),
);

/** The message type published on `subject` (its full name), or undefined. */
export function eventType(subject: string): DescMessage | undefined {
  return eventTypes.get(subject);
}

/** The fields every event carries, and the whole message as proto3 JSON. */
export interface DecodedEvent {
  eventId: string;
  thingId: string;
  sequence: number;
  occurTime: Date;
  json: JsonValue;
}

export function decodeEvent(subject: string, data: Uint8Array): DecodedEvent {
  const type = eventType(subject);
  if (!type) throw new Error(`no event type for subject ${subject}`);
  const message = fromBinary(type, data) as unknown as {
    eventId: string;
    sequence: bigint;
    occurTime?: { seconds: bigint; nanos: number };
  } & Record<string, unknown>;
  // Field 4 names the thing: orderId, productId or accountId.
  const thingField = type.fields.find((field) => field.number === 4);
  const seconds = Number(message.occurTime?.seconds ?? 0n);
  return {
    eventId: message.eventId,
    thingId: String(thingField ? message[thingField.localName] : ""),
    sequence: Number(message.sequence),
    occurTime: new Date(seconds * 1000 + Math.floor((message.occurTime?.nanos ?? 0) / 1e6)),
    json: toJson(type, message as never),
  };
}
