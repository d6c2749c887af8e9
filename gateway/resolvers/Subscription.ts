// Live updates: stockChanged from the process's shared stock feed (gateway/live/stock-feed.ts), orderUpdated
// from the order service with the subscriber's own token. Both resume from SSE's Last-Event-ID.
import { GraphQLError } from "graphql";
import { decodeJwt } from "jose";
import { isUuid } from "../../platform/data/ids.js";
import { maxWatchedIds } from "../../platform/events/watch.js";
import type { GatewayContext } from "../context.js";
import { badUserInput, fromBackend, graphqlError } from "../errors.js";
import type { SubscriptionResolvers } from "../generated/resolvers.js";
import { type Offered, type OrderEvent, watchOrders } from "../live.js";
import { noteResumeCursor } from "../plugins/sse-resume.js";

/** 1 to 100 well-formed ids, repeats merged, or BAD_USER_INPUT naming the argument. */
function checkIds(ids: readonly string[], field: string): string[] {
  const unique = [...new Set(ids.map((id) => id.toLowerCase()))];
  if (unique.length < 1 || unique.length > maxWatchedIds) {
    throw badUserInput([{ field, message: `must hold 1 to ${maxWatchedIds} ids` }]);
  }
  const malformed = unique.find((id) => !isUuid(id));
  if (malformed !== undefined) {
    throw badUserInput([{ field, message: `${JSON.stringify(malformed)} is not an id` }]);
  }
  return unique;
}

export const Subscription: SubscriptionResolvers = {
  stockChanged: {
    async subscribe(_, { productIds }, ctx) {
      const ids = checkIds(productIds, "productIds");
      // Unknown products are refused here, before they join the shared upstream stream.
      const found = await ctx.loaders.product.loadMany(ids);
      const missing = ids.filter((_id, i) => !found[i] || found[i] instanceof Error);
      if (missing.length > 0) {
        throw new GraphQLError(`product ${missing[0]} not found`, {
          extensions: { code: "NOT_FOUND" },
        });
      }
      return ctx.live.stock.subscribe(ids, ctx.lastEventId);
    },
    // Executed once per state and subscription, with a context of its own, by
    // gateway/live/stock-frames.ts: fresh loaders, no subscriber's token, the cursor added there.
    resolve: (event: Offered) => event.update,
  },

  orderUpdated: {
    async subscribe(_, { ids }, ctx) {
      if (ctx.authorization === undefined) {
        throw new GraphQLError("sign in to watch orders", {
          extensions: { code: "UNAUTHENTICATED" },
        });
      }
      let watched: string[];
      if (ids != null) watched = checkIds(ids, "ids");
      else {
        // Without ids: the caller's own orders, newest first (at most 100 of them).
        const accountId = subjectOf(ctx.authorization);
        const { orders } = await fromBackend(
          ctx.backends.order.listOrdersForAccount({ accountId }, ctx.call),
        );
        watched = orders.slice(0, maxWatchedIds).map((order) => order.id);
        if (watched.length === 0) {
          throw new GraphQLError("you have no orders to watch yet", {
            extensions: { code: "NOT_FOUND" },
          });
        }
      }
      const authorization = ctx.authorization;
      const stream = watchOrders(
        ctx.live.order,
        watched,
        () => ({ headers: { authorization, "x-request-id": ctx.requestId } }),
        ctx.log,
        ctx.live.closing,
        ctx.lastEventId,
      );
      return mapErrors(stream);
    },
    resolve: (event: OrderEvent, _args: unknown, ctx: GatewayContext) => {
      ctx.renew();
      noteResumeCursor(ctx, event.resumeCursor);
      return event.order;
    },
  },
};

/** The unverified `sub` of a bearer token: whom to ask for (the service verifies it). */
function subjectOf(authorization: string): string {
  const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
  try {
    return (token && decodeJwt(token).sub) || "";
  } catch {
    return "";
  }
}

/** The stream's refusals (NOT_FOUND, UNAUTHENTICATED) as the GraphQL errors queries give. */
async function* mapErrors<T>(stream: AsyncIterableIterator<T>): AsyncGenerator<T> {
  try {
    yield* stream;
  } catch (error) {
    throw graphqlError(error);
  }
}
