// What bench:gateway measures, in order, each figure next to its same-run reference: the bare
// server (the machine's ceiling), direct Connect calls, our gateway's queries, Hive Gateway's
// (right after ours, so that they meet the machine in the same state), the nested query against
// the same three RPCs called directly, and createOrder through the gateway against CreateOrder.
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AccountService } from "../gen/bazaar/account/v1/account_pb.js";
import { CatalogService } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { OrderService } from "../gen/bazaar/order/v1/order_pb.js";
import type { Stack } from "./gateway-stack.js";
import { hiveScenarios } from "./hive.js";
import type { Target } from "./load.js";

/** Scenario names, as printed (bench/sections/gateway.ts reads them back). */
export const names = {
  bare: "bare node http",
  getProduct: "direct Connect GetProduct",
  direct: "direct Connect ListProducts(take 20)",
  flat: "gateway products(take 20)",
  grpc: "gateway products, gRPC backend",
  directDistinct: "direct Connect ListProducts, distinct pages",
  flatDistinct: "gateway products, distinct pages",
  nested: "gateway nested 3-level query",
  threeRpcs: "direct 3 RPCs, one after the other",
  createOrder: "gateway createOrder",
  directCreateOrder: "direct Connect CreateOrder",
} as const;

const listProducts = "/bazaar.catalog.v1.CatalogService/ListProducts";

export function scenarios(stack: Stack): Target[] {
  const { catalog, gateway: gw } = stack;
  const admin = { authorization: `Bearer ${stack.adminToken}` };
  const customer = { authorization: `Bearer ${stack.customerToken}` };
  // 80 different pages of 20 products, asked in turn: requests in flight together differ, so
  // nothing is shared between them, neither by the gateway nor by the catalog.
  const pages = Array.from({ length: 80 }, (_, skip) => skip);
  const productsQuery = JSON.stringify({
    query: "{ products(pagination:{take:20}) { id name price } }",
  });
  const hives = stack.hives.filter(
    (hive) => !stack.hiveSkipped.has(hive.source) && hive.process?.pid,
  );
  const hive = (paged: boolean): Target[] =>
    hives.map(({ source, port, process }) => {
      const scenario = hiveScenarios[source];
      return {
        name: paged ? scenario.pagedName : scenario.name,
        url: `http://127.0.0.1:${port}/graphql`,
        ...(paged
          ? {
              bodies: pages.map((skip) =>
                JSON.stringify({ query: scenario.pagedQuery, variables: { skip } }),
              ),
            }
          : { body: JSON.stringify({ query: scenario.query }) }),
        graphql: true,
        cpu: { hive: process?.pid as number, catalog },
      };
    });
  return [
    { name: names.bare, url: `${stack.bare}/`, cpu: {} },
    {
      name: names.getProduct,
      url: `${catalog}/bazaar.catalog.v1.CatalogService/GetProduct`,
      body: JSON.stringify({ id: stack.productIds[0] }),
      cpu: { catalog },
    },
    {
      name: names.direct,
      url: `${catalog}${listProducts}`,
      body: JSON.stringify({ take: 20 }),
      cpu: { catalog },
    },
    {
      name: names.flat,
      url: `${gw}/graphql`,
      body: productsQuery,
      graphql: true,
      cpu: { gateway: gw, catalog },
    },
    ...hive(false),
    {
      name: names.grpc,
      url: `${stack.gatewayGrpc}/graphql`,
      body: productsQuery,
      graphql: true,
      cpu: { gateway: stack.gatewayGrpc, catalog },
    },
    {
      name: names.directDistinct,
      url: `${catalog}${listProducts}`,
      bodies: pages.map((skip) => JSON.stringify({ skip, take: 20 })),
      cpu: { catalog },
    },
    {
      name: names.flatDistinct,
      url: `${gw}/graphql`,
      bodies: pages.map((skip) =>
        JSON.stringify({
          query:
            "query ($skip: Int!) { products(pagination:{skip:$skip,take:20}) { id name price } }",
          variables: { skip },
        }),
      ),
      graphql: true,
      cpu: { gateway: gw, catalog },
    },
    ...hive(true),
    {
      name: names.nested,
      url: `${gw}/graphql`,
      body: JSON.stringify({
        query: "{ accounts(pagination:{take:50}) { orders { products { product { name } } } } }",
      }),
      graphql: true,
      headers: admin,
      // The same client as its reference below.
      loop: true,
      cpu: { gateway: gw, account: stack.account, order: stack.order, catalog },
    },
    {
      name: names.threeRpcs,
      url: "",
      call: threeRpcs(stack, admin),
      cpu: { account: stack.account, order: stack.order, catalog },
    },
    // Last: the orders they place would otherwise grow what the scenarios above read.
    {
      name: names.directCreateOrder,
      url: `${stack.order}/bazaar.order.v1.OrderService/CreateOrder`,
      body: JSON.stringify({
        items: [{ productId: stack.orderProductId, quantity: 1 }],
        idempotencyKey: "$KEY",
      }),
      freshKey: true,
      headers: customer,
      cpu: { account: stack.account, order: stack.order, catalog },
    },
    {
      name: names.createOrder,
      url: `${gw}/graphql`,
      body: JSON.stringify({
        query: `mutation { createOrder(order: { products: [{ id: "${stack.orderProductId}", quantity: 1 }], idempotencyKey: "$KEY" }) { id } }`,
      }),
      freshKey: true,
      graphql: true,
      headers: customer,
      cpu: { gateway: gw, account: stack.account, order: stack.order, catalog },
    },
  ];
}

/**
 * The nested query's work without the gateway: the three RPCs the gateway makes for it, one
 * after the other, with the same ids, through the same transport (Connect, binary, HTTP/1.1).
 */
function threeRpcs(stack: Stack, headers: Record<string, string>): () => Promise<boolean> {
  const transport = (baseUrl: string) =>
    createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true });
  const accounts = createClient(AccountService, transport(stack.account));
  const orders = createClient(OrderService, transport(stack.order));
  const catalog = createClient(CatalogService, transport(stack.catalog));
  return async () => {
    const { accounts: page } = await accounts.listAccounts({ take: 50 }, { headers });
    const { accountOrders } = await orders.batchListOrdersForAccounts(
      { accountIds: page.map((account) => account.id) },
      { headers },
    );
    const ids = new Set(
      accountOrders.flatMap((a) => a.orders.flatMap((o) => o.items.map((i) => i.productId))),
    );
    const { products } = await catalog.batchGetProducts({ ids: [...ids] }, { headers });
    return products.length === ids.size;
  };
}
