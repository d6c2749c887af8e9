// Live updates for the page: WatchStock and WatchOrders read over Connect-Web (server streams on
// fetch), each update written into the query cache the views already render from, so a product's
// stock or an order's status changes on screen without a reload. A dropped stream is reopened
// with its last cursor (what was missed comes first), after a growing pause.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectQueryKey, useTransport } from "@connectrpc/connect-query";
import { type QueryClient, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import {
  CatalogService,
  ListProductsResponseSchema,
} from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import {
  ListOrdersForAccountResponseSchema,
  type Order,
  OrderService,
} from "../../gen/bazaar/order/v1/order_pb.js";

/** One update of a Watch stream: its cursor, and the change (absent in a heartbeat). */
interface Step<T> {
  cursor: string;
  value: T | undefined;
}

const firstPauseMs = 500;
const longestPauseMs = 30_000;

/**
 * Follows a stream until `signal` aborts: each value to `onValue`; after a failure, again from
 * the last cursor. It stops for good on refusals a retry cannot cure (the token expired or the
 * things are not the caller's): the page's own reads show those.
 */
async function follow<T>(
  open: (cursor: string, signal: AbortSignal) => AsyncIterable<Step<T>>,
  onValue: (value: T) => void,
  signal: AbortSignal,
): Promise<void> {
  let cursor = "";
  let pauseMs = firstPauseMs;
  while (!signal.aborted) {
    try {
      for await (const step of open(cursor, signal)) {
        pauseMs = firstPauseMs;
        if (step.value === undefined) continue;
        cursor = step.cursor;
        onValue(step.value);
      }
    } catch (error) {
      if (signal.aborted) return;
      const code = ConnectError.from(error).code;
      if ([Code.Unauthenticated, Code.NotFound, Code.InvalidArgument].includes(code)) return;
    }
    // A stream ends only when the server goes (it drains): reconnect, maybe to another replica.
    await new Promise((resolve) => setTimeout(resolve, pauseMs * (0.5 + Math.random())));
    pauseMs = Math.min(pauseMs * 2, longestPauseMs);
  }
}

/** Runs `follow` while the component shows these ids; a new set of ids is a new stream. */
function useFollow(ids: readonly string[], start: (ids: string[], signal: AbortSignal) => void) {
  const key = [...new Set(ids)].sort().join(",");
  // biome-ignore lint/correctness/useExhaustiveDependencies: the ids' set is the dependency.
  useEffect(() => {
    if (key === "") return;
    const abort = new AbortController();
    start(key.split(","), abort.signal);
    return () => abort.abort();
  }, [key]);
}

/** Keeps the stock of these products (at most 100) live in every cached product list. */
export function useLiveStock(productIds: readonly string[]): void {
  const transport = useTransport();
  const queryClient = useQueryClient();
  useFollow(productIds.slice(0, 100), (ids, signal) => {
    const client = createClient(CatalogService, transport);
    void follow(
      async function* (cursor, abort) {
        for await (const res of client.watchStock({ productIds: ids, cursor }, { signal: abort })) {
          yield { cursor: res.update?.cursor ?? "", value: res.update };
        }
      },
      (update) => setStock(queryClient, update.productId, update.stock),
      signal,
    );
  });
}

function setStock(queryClient: QueryClient, productId: string, stock: number): void {
  queryClient.setQueriesData(
    {
      queryKey: createConnectQueryKey({
        schema: CatalogService.method.listProducts,
        cardinality: undefined,
      }),
    },
    (data: unknown) => {
      if (!isMessage(data, ListProductsResponseSchema.typeName)) return data;
      const list = data as ReturnType<typeof create<typeof ListProductsResponseSchema>>;
      if (!list.products.some((p) => p.id === productId && p.stock !== stock)) return data;
      return create(ListProductsResponseSchema, {
        products: list.products.map((p) => (p.id === productId ? { ...p, stock } : p)),
      });
    },
  );
}

/** Keeps these orders (the caller's; at most 100) live in the cached order history. */
export function useLiveOrders(orderIds: readonly string[]): void {
  const transport = useTransport();
  const queryClient = useQueryClient();
  useFollow(orderIds.slice(0, 100), (ids, signal) => {
    const client = createClient(OrderService, transport);
    void follow(
      async function* (cursor, abort) {
        for await (const res of client.watchOrders({ orderIds: ids, cursor }, { signal: abort })) {
          yield { cursor: res.update?.cursor ?? "", value: res.update?.order };
        }
      },
      (order) => setOrder(queryClient, order),
      signal,
    );
  });
}

function setOrder(queryClient: QueryClient, order: Order): void {
  queryClient.setQueriesData(
    {
      queryKey: createConnectQueryKey({
        schema: OrderService.method.listOrdersForAccount,
        cardinality: undefined,
      }),
    },
    (data: unknown) => {
      if (!isMessage(data, ListOrdersForAccountResponseSchema.typeName)) return data;
      const list = data as ReturnType<typeof create<typeof ListOrdersForAccountResponseSchema>>;
      if (!list.orders.some((o) => o.id === order.id)) return data;
      return create(ListOrdersForAccountResponseSchema, {
        orders: list.orders.map((o) => (o.id === order.id ? order : o)),
      });
    },
  );
}

function isMessage(data: unknown, typeName: string): boolean {
  return typeof data === "object" && data !== null && "$typeName" in data
    ? data.$typeName === typeName
    : false;
}
