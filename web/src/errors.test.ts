// Errors built the way the services send them (platform/http/validation.ts, the order saga's
// out-of-stock), read back as the page shows them.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  BadRequestSchema,
  PreconditionFailureSchema,
} from "../../gen/google/rpc/error_details_pb.js";
import { describeError, unavailableMessage } from "./errors.js";

const badRequest = (fieldViolations: { field: string; description: string }[]) =>
  new ConnectError("invalid request", Code.InvalidArgument, undefined, [
    { desc: BadRequestSchema, value: create(BadRequestSchema, { fieldViolations }) },
  ]);

describe("describeError", () => {
  it("puts each violation on its field, and the others in the message", () => {
    const problem = describeError(
      badRequest([
        { field: "password", description: "must be 8 to 128 characters" },
        { field: "request", description: "is odd" },
      ]),
      { fields: ["name", "email", "password"] },
    );
    expect(problem.fields).toEqual({ password: "Must be 8 to 128 characters." });
    expect(problem.message).toBe("Request is odd.");
  });

  it("asks to correct the marked fields when every violation has its place", () => {
    const problem = describeError(
      badRequest([{ field: "email", description: "must be an email" }]),
      {
        fields: ["email"],
      },
    );
    expect(problem).toEqual({
      message: "Please correct the fields marked below.",
      fields: { email: "Must be an email." },
    });
  });

  it("names the product that ran out", () => {
    const error = new ConnectError("not enough stock", Code.FailedPrecondition, undefined, [
      {
        desc: PreconditionFailureSchema,
        value: create(PreconditionFailureSchema, {
          violations: [{ type: "STOCK", subject: "p1", description: "only 2 left, 3 requested" }],
        }),
      },
    ]);
    expect(
      describeError(error, { productName: (id) => (id === "p1" ? "Teapot" : undefined) }),
    ).toEqual({
      message: "Not enough “Teapot” in stock (only 2 left, 3 requested).",
      fields: {},
      productId: "p1",
    });
    expect(describeError(error).message).toBe(
      "Not enough product p1 in stock (only 2 left, 3 requested).",
    );
  });

  it("says to try again when a service is down or cannot be reached", () => {
    expect(describeError(new ConnectError("down", Code.Unavailable)).message).toBe(
      unavailableMessage,
    );
    const fetchFailed = ConnectError.from(new TypeError("Failed to fetch"));
    expect(describeError(fetchFailed).message).toBe(unavailableMessage);
  });

  it("shows the services' own words for the caller, and nothing internal", () => {
    expect(
      describeError(new ConnectError("wrong email or password", Code.Unauthenticated)).message,
    ).toBe("Wrong email or password.");
    const internal = new ConnectError("relation orders does not exist", Code.Internal);
    const quiet = console.error;
    console.error = () => {};
    try {
      expect(describeError(internal).message).toBe(
        "Something went wrong on our side; please try again later.",
      );
    } finally {
      console.error = quiet;
    }
  });
});
