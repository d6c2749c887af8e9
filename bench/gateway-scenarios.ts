// What bench:gateway measures, in order, each figure next to its same-run reference: the bare
// server (the machine's ceiling), direct Connect calls, our gateway's queries, Hive Gateway's
// (right after ours, so that they meet the machine in the same state), the nested query against
// the same three RPCs called directly, and createOrder through the gateway against CreateOrder.
// Over 300 lines (323): one list of every scenario, each beside its reference, read in order.

import type { DescMethodUnary } from "@bufbuild/protobuf";
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { AccountService } from "../gen/bazaar/account/v1/account_pb.js";
import { CatalogService } from "../gen/bazaar/catalog/v1/catalog_pb.js";
import { OrderService } from "../gen/bazaar/order/v1/order_pb.js";
import type { Stack } from "./gateway-stack.js";
import { hiveScenarios } from "./hive.js";
import type { Rpc, Target } from "./load.js";

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
  nestedDistinct: "gateway nested query, distinct pages",
  flatDistinctH2: "gateway products, distinct pages, h2",
  nestedDistinctH2: "gateway nested query, distinct pages, h2",
  createOrderH2: "gateway createOrder, h2",
  threeRpcsDistinct: "direct 3 RPCs, distinct pages",
  createOrder: "gateway createOrder",
  directCreateOrder: "direct Connect CreateOrder",
  hopDistinct: "the hop alone, distinct pages",
  hopNestedDistinct: "the hop alone, nested, distinct pages",
  hopCreateOrder: "the hop alone, createOrder",
  yogaAlone: "Yoga alone, { ok }",
} as const;

const listProducts = "/bazaar.catalog.v1.CatalogService/ListProducts";

export async function scenarios(stack: Stack): Promise<Target[]> {
  const { catalog, gateway: gw } = stack;
  const admin = { authorization: `Bearer ${stack.adminToken}` };
  const customer = { authorization: `Bearer ${stack.customerToken}` };
  // 80 different pages of 20 products, asked in turn: requests in flight together differ, so
  // nothing is shared between them, neither by the gateway nor by the catalog.
  const pages = Array.from({ length: 80 }, (_, skip) => skip);
  const productsQuery = JSON.stringify({
    query: "{ products(pagination:{take:20}) { id name price } }",
  });
  const flatDistinctBodies = pages.map((skip) =>
    JSON.stringify({
      query: "query ($skip: Int!) { products(pagination:{skip:$skip,take:20}) { id name price } }",
      variables: { skip },
    }),
  );
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
    // The least the gateway's framework costs a request (bench/hop.ts).
    {
      name: names.yogaAlone,
      url: `${stack.hop}/graphql`,
      body: JSON.stringify({ query: "{ ok }" }),
      graphql: true,
      cpu: { yoga: stack.hopPid },
    },
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
      bodies: flatDistinctBodies,
      graphql: true,
      cpu: { gateway: gw, catalog },
    },
    {
      name: names.flatDistinctH2,
      url: `${stack.gatewayH2}/graphql`,
      bodies: flatDistinctBodies,
      graphql: true,
      cpu: { gateway: stack.gatewayH2, catalog },
    },
    ...hive(true),
    // The gateway's own cost against the hop alone (bench/hop.ts): the same backend call with
    // the same client and the same JSON answer, without GraphQL.
    {
      name: names.hopDistinct,
      url: `${stack.hop}/products`,
      bodies: pages.map((skip) => JSON.stringify({ skip })),
      cpu: { hop: stack.hopPid, catalog },
    },
    {
      name: names.nested,
      url: `${gw}/graphql`,
      body: JSON.stringify({ query: nestedQuery }),
      graphql: true,
      headers: admin,
      // The same client as its reference below.
      loop: true,
      cpu: { gateway: gw, account: stack.account, order: stack.order, catalog },
    },
    {
      name: names.threeRpcs,
      url: "",
      units: [await threeRpcs(stack, 0)],
      headers: gatewayHeaders(stack),
      cpu: { account: stack.account, order: stack.order, catalog },
    },
    // Each request a different page of 50 accounts: requests in flight together differ, so
    // nothing is shared, and each GraphQL request costs the services its own three calls.
    {
      name: names.nestedDistinct,
      url: `${gw}/graphql`,
      bodies: accountPages.map((skip) =>
        JSON.stringify({ query: nestedPagedQuery, variables: { skip } }),
      ),
      graphql: true,
      headers: admin,
      loop: true,
      cpu: { gateway: gw, account: stack.account, order: stack.order, catalog },
    },
    {
      name: names.nestedDistinctH2,
      url: `${stack.gatewayH2}/graphql`,
      bodies: accountPages.map((skip) =>
        JSON.stringify({ query: nestedPagedQuery, variables: { skip } }),
      ),
      graphql: true,
      headers: admin,
      loop: true,
      cpu: { gateway: stack.gatewayH2, account: stack.account, order: stack.order, catalog },
    },
    {
      name: names.threeRpcsDistinct,
      url: "",
      units: await Promise.all(accountPages.map((skip) => threeRpcs(stack, skip))),
      headers: gatewayHeaders(stack),
      cpu: { account: stack.account, order: stack.order, catalog },
    },
    {
      name: names.hopNestedDistinct,
      url: `${stack.hop}/nested`,
      bodies: accountPages.map((skip) => JSON.stringify({ skip })),
      headers: admin,
      loop: true,
      cpu: { hop: stack.hopPid, account: stack.account, order: stack.order, catalog },
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
    {
      name: names.createOrderH2,
      url: `${stack.gatewayH2}/graphql`,
      body: JSON.stringify({
        query: `mutation { createOrder(order: { products: [{ id: "${stack.orderProductId}", quantity: 1 }], idempotencyKey: "$KEY" }) { id } }`,
      }),
      freshKey: true,
      graphql: true,
      headers: customer,
      cpu: { gateway: stack.gatewayH2, account: stack.account, order: stack.order, catalog },
    },
    {
      name: names.hopCreateOrder,
      url: `${stack.hop}/createOrder`,
      body: JSON.stringify({ productId: stack.orderProductId, quantity: 1, key: "$KEY" }),
      freshKey: true,
      headers: customer,
      cpu: { hop: stack.hopPid, account: stack.account, order: stack.order, catalog },
    },
  ];
}

const nestedQuery =
  "{ accounts(pagination:{take:50}) { orders { products { product { name } } } } }";
const nestedPagedQuery =
  "query ($skip: Int!) { accounts(pagination:{skip:$skip,take:50}) { orders { products { product { name } } } } }";
/** 50 pages of 50 accounts (of the 100 seeded customers), each starting one account later. */
const accountPages = Array.from({ length: 50 }, (_, skip) => skip);

/**
 * The headers the gateway sends with each backend call for the admin's nested query
 * (context.ts, connect-transport.ts): its token, binary Connect, the request's deadline
 * (BACKEND_TIMEOUT_MS, 5 s by default; each call gets what is left of it), the caller's address;
 * the load loop adds a fresh x-request-id per unit. Nothing asks for compression: the gateway
 * accepts none, and with connect-node's default (gzip, br) the services compressed every answer
 * over 1 KiB, ~40% more of their CPU per call than the gateway's calls cost them.
 */
function gatewayHeaders(stack: Stack): Record<string, string> {
  return {
    authorization: `Bearer ${stack.adminToken}`,
    "content-type": "application/proto",
    "connect-protocol-version": "1",
    "connect-timeout-ms": "5000",
    "user-agent": "connect-es/2.2.0",
    "x-forwarded-for": "127.0.0.1",
  };
}

/**
 * The nested query's work without the gateway, for the page of accounts at `skip`: the three
 * RPCs the gateway makes for it (ListAccounts, BatchListOrdersForAccounts, BatchGetProducts with
 * the same ids), as binary Connect requests to be sent one after the other. The ids are read
 * once here (the data does not change while the scenario runs), checked by asking each call.
 */
async function threeRpcs(stack: Stack, skip: number): Promise<Rpc[]> {
  const headers = gatewayHeaders(stack);
  const call = async <I extends DescMessage, O extends DescMessage>(
    base: string,
    method: DescMethodUnary<I, O>,
    input: MessageShape<I>,
  ): Promise<{ rpc: Rpc; output: MessageShape<O> }> => {
    const rpc = {
      url: `${base}/${method.parent.typeName}/${method.name}`,
      body: toBinary(method.input, input),
    };
    const res = await fetch(rpc.url, { method: "POST", headers, body: rpc.body });
    if (res.status !== 200) throw new Error(`${method.name}: ${res.status} ${await res.text()}`);
    return { rpc, output: fromBinary(method.output, new Uint8Array(await res.arrayBuffer())) };
  };
  const accounts = await call(
    stack.account,
    AccountService.method.listAccounts,
    create(AccountService.method.listAccounts.input, { skip, take: 50 }),
  );
  const orders = await call(
    stack.order,
    OrderService.method.batchListOrdersForAccounts,
    create(OrderService.method.batchListOrdersForAccounts.input, {
      accountIds: accounts.output.accounts.map((account) => account.id),
    }),
  );
  const ids = new Set(
    orders.output.accountOrders.flatMap((a) =>
      a.orders.flatMap((o) => o.items.map((i) => i.productId)),
    ),
  );
  const products = await call(
    stack.catalog,
    CatalogService.method.batchGetProducts,
    create(CatalogService.method.batchGetProducts.input, { ids: [...ids] }),
  );
  if (accounts.output.accounts.length !== 50 || products.output.products.length !== ids.size) {
    throw new Error(`the nested query's page at ${skip} is not 50 accounts and their products`);
  }
  return [accounts.rpc, orders.rpc, products.rpc];
}
