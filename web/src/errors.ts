// Service errors as a shopper wants to read them: each invalid field next to that field, the
// product that ran out named, and "try again" when a service is down. Everything else gets a
// plain sentence; the raw error stays in the console for developers.
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestSchema,
  PreconditionFailureSchema,
} from "../../gen/google/rpc/error_details_pb.js";

export interface Problem {
  /** One sentence for the whole form or action. */
  message: string;
  /** Messages by request field (`password`, `items[1].quantity`), for the form to place. */
  fields: Record<string, string>;
  /** The product that was out of stock, when that was the problem. */
  productId?: string;
}

export const unavailableMessage = "Service unavailable, try again.";

export interface DescribeOptions {
  /** Fields the form shows next to its inputs; violations of any other field join `message`. */
  fields?: readonly string[];
  /** A product's name by id, to say which one ran out. */
  productName?: (id: string) => string | undefined;
}

export function describeError(error: unknown, options: DescribeOptions = {}): Problem {
  const e = ConnectError.from(error);
  switch (e.code) {
    case Code.InvalidArgument:
      return invalidFields(e, options.fields ?? []);
    case Code.FailedPrecondition:
      return outOfStock(e, options.productName);
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      return { message: unavailableMessage, fields: {} };
    case Code.Unknown:
      // fetch() itself failed: the service is down or unreachable.
      if (e.cause instanceof TypeError) return { message: unavailableMessage, fields: {} };
      break;
    case Code.Unauthenticated:
    case Code.AlreadyExists:
    case Code.ResourceExhausted:
    case Code.NotFound:
      // These messages are written for the caller: "wrong email or password", "an account
      // with this email already exists", "too many failed logins… try again in 30 s".
      return { message: sentence(e.rawMessage), fields: {} };
    case Code.PermissionDenied:
      return { message: "You are not allowed to do that.", fields: {} };
  }
  console.error(e);
  return { message: "Something went wrong on our side; please try again later.", fields: {} };
}

function invalidFields(e: ConnectError, shown: readonly string[]): Problem {
  const violations = e.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations);
  if (violations.length === 0) return { message: sentence(e.rawMessage), fields: {} };
  const fields: Record<string, string> = {};
  const elsewhere: string[] = [];
  for (const { field, description } of violations) {
    if (shown.includes(field)) fields[field] = sentence(description);
    else elsewhere.push(`${field} ${description}`);
  }
  return {
    message:
      elsewhere.length > 0
        ? sentence(elsewhere.join("; "))
        : "Please correct the fields marked below.",
    fields,
  };
}

function outOfStock(e: ConnectError, productName: DescribeOptions["productName"]): Problem {
  const violation = e
    .findDetails(PreconditionFailureSchema)
    .flatMap((d) => d.violations)
    .find((v) => v.type === "STOCK");
  if (!violation) return { message: sentence(e.rawMessage), fields: {} };
  const name = productName?.(violation.subject);
  const what = name ? `“${name}”` : `product ${violation.subject}`;
  const detail = violation.description ? ` (${violation.description})` : "";
  return {
    message: `Not enough ${what} in stock${detail}.`,
    fields: {},
    productId: violation.subject,
  };
}

/** "must be 8 to 128 characters" → "Must be 8 to 128 characters." */
function sentence(text: string): string {
  const trimmed = text.trim();
  if (trimmed === "") return "";
  const capital = trimmed[0]?.toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}
