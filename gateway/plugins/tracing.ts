// A span per GraphQL operation (the GraphQL semantic conventions: "mutation createOrder",
// graphql.operation.type and .name), active while it executes, so that every backend call a
// resolver or a DataLoader makes is its child, and itself a child of the HTTP server span of the
// request (the official HTTP instrumentation), or of the caller's `traceparent` when there is
// no such span (tests calling `yoga.fetch`). Nothing at all when tracing is off.
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { type ExecutionResult, getOperationAST } from "graphql";
import type { Plugin } from "graphql-yoga";
import { inSpan, serverParent, tracingOn } from "../../platform/observability/tracing.js";

export function tracing(): Plugin {
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      if (!tracingOn()) return;
      const operation = getOperationAST(args.document, args.operationName);
      const type = operation?.operation ?? "query";
      const name = operation?.name?.value;
      const request = (args.contextValue as { request?: Request }).request;
      setExecuteFn((executeArgs) =>
        inSpan(
          name ? `${type} ${name}` : type,
          {
            kind: SpanKind.SERVER,
            attributes: {
              "graphql.operation.type": type,
              ...(name ? { "graphql.operation.name": name } : {}),
            },
            parent: serverParent(
              request?.headers ?? new Headers(),
              request ? new URL(request.url).pathname : "/graphql",
            ),
          },
          async () => executeFn(executeArgs),
          (span, { result, error }) => {
            const errors = (result as ExecutionResult | undefined)?.errors;
            const codes = errors?.map((e) => String(e.extensions?.code ?? "ERROR"));
            if (error || codes?.length) {
              span.setStatus({ code: SpanStatusCode.ERROR, message: codes?.join(",") ?? "" });
            }
          },
        ),
      );
    },
  };
}
