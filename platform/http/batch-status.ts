// One entry's error inside a batch answer (BatchReserveStock, BatchCommitReservations): the
// error the single call would have thrown, carried as a google.rpc.Status, and read back into
// the same ConnectError, so the caller handles a batch entry exactly as it handled the call.
import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import { type Status, StatusSchema } from "../../gen/google/rpc/status_pb.js";

/** `error`'s code, caller-facing message and details as a Status. */
export function toStatus(error: ConnectError): Status {
  return create(StatusSchema, {
    code: error.code,
    message: error.rawMessage,
    details: error.details.map((detail) =>
      "desc" in detail
        ? anyPack(detail.desc, create(detail.desc, detail.value))
        : { typeUrl: `type.googleapis.com/${detail.type}`, value: detail.value },
    ),
  });
}

/** The ConnectError a Status stands for; its details decode with `findDetails`. */
export function fromStatus(status: Status): ConnectError {
  const error = new ConnectError(status.message, status.code);
  // Received details, as connect-node leaves those of a call's error: type name and bytes.
  error.details = status.details.map((any) => ({
    type: any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1),
    value: any.value,
  }));
  return error;
}
