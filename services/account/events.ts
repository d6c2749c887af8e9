// The account service's domain events (proto/bazaar/account/v1/events.proto), encoded for the
// outbox. Only the shown columns go in: never the password hash or the token version.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Role } from "../../gen/bazaar/account/v1/account_pb.js";
import {
  AccountCreatedSchema,
  AccountUpdatedSchema,
} from "../../gen/bazaar/account/v1/events_pb.js";
import { type EventRecord, newEvent } from "../../platform/events/record.js";
import type { AccountView } from "./store.js";

function account(record: AccountView) {
  return {
    id: record.id,
    name: record.name,
    email: record.email,
    role: record.role === "admin" ? Role.ADMIN : Role.CUSTOMER,
    createTime: timestampFromDate(record.createTime),
  };
}

export function accountCreated(record: AccountView, sequence: number): EventRecord {
  return newEvent(AccountCreatedSchema, record.id, sequence, {
    accountId: record.id,
    account: account(record),
  });
}

export function accountUpdated(record: AccountView, sequence: number): EventRecord {
  return newEvent(AccountUpdatedSchema, record.id, sequence, {
    accountId: record.id,
    account: account(record),
  });
}
