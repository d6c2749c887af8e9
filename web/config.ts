// The storefront process's configuration: its port, and the service addresses it hands to the
// page (GET /config.json). Those are the addresses a *browser* uses, so in production they are
// the services' public URLs, and each service's CORS_ORIGINS must list the storefront's origin.
import * as v from "valibot";
import { parseEnv, peerUrlVar, processEntries } from "../platform/config.js";
import { localUrl, processes } from "../platform/processes.js";
import type { PageConfig } from "./src/page-config.js";

export const schema = v.object({
  ...processEntries(processes.web.port),
  ACCOUNT_URL: peerUrlVar(localUrl("account")),
  CATALOG_URL: peerUrlVar(localUrl("catalog")),
  ORDER_URL: peerUrlVar(localUrl("order")),
});

export type WebConfig = v.InferOutput<typeof schema>;

export function loadWebConfig(env: Record<string, string | undefined> = process.env): WebConfig {
  return parseEnv(schema, env);
}

export function pageConfig(config: WebConfig): PageConfig {
  return {
    accountUrl: config.ACCOUNT_URL,
    catalogUrl: config.CATALOG_URL,
    orderUrl: config.ORDER_URL,
  };
}
