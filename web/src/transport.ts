// One Connect transport for the whole page. Each service has its own address, so the
// transport sends every call to its service's base URL; and one interceptor adds the
// signed-in user's token, so no component handles headers.
import type { DescMethodStreaming, DescMethodUnary, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import { CatalogService } from "../../gen/bazaar/catalog/v1/catalog_pb.js";
import { OrderService } from "../../gen/bazaar/order/v1/order_pb.js";
import type { PageConfig } from "./page-config.js";
import { currentToken } from "./session.js";

const bearerToken: Interceptor = (next) => (request) => {
  const token = currentToken();
  if (token) request.header.set("Authorization", `Bearer ${token}`);
  return next(request);
};

export function createTransport(config: PageConfig): Transport {
  const to = (baseUrl: string) =>
    createConnectTransport({
      baseUrl,
      // Reads without side effects go as GET, which browsers and proxies may cache.
      useHttpGet: true,
      interceptors: [bearerToken],
    });
  const byService = new Map<string, Transport>([
    [AccountService.typeName, to(config.accountUrl)],
    [CatalogService.typeName, to(config.catalogUrl)],
    [OrderService.typeName, to(config.orderUrl)],
  ]);
  const pick = (service: DescService): Transport => {
    const transport = byService.get(service.typeName);
    if (!transport)
      throw new ConnectError(`no address for ${service.typeName}`, Code.Unimplemented);
    return transport;
  };
  return {
    unary: (method: DescMethodUnary, ...rest) => pick(method.parent).unary(method, ...rest),
    stream: (method: DescMethodStreaming, ...rest) => pick(method.parent).stream(method, ...rest),
  } as Transport;
}
