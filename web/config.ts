// The storefront process's configuration: its port, how the page reaches the services, and
// where they are. PAGE_SERVICES=direct hands the page the services' own addresses (the page
// calls them cross-origin, so each service's CORS_ORIGINS must list the storefront's origin);
// PAGE_SERVICES=proxy forwards their RPC paths under the storefront's origin, so the *_URL
// are where this process reaches them (in-cluster addresses) and the page needs no CORS.
import * as v from "valibot";
import { described, parseEnv, peerUrlVar, processEntries } from "../platform/config.js";
import { localUrl, processes } from "../platform/processes.js";
import type { PageConfig } from "./src/page-config.js";

export const schema = v.object({
  ...processEntries(processes.web.port),
  // Unset or empty: proxy in production (one origin, nothing else exposed), direct elsewhere
  // (so development keeps exercising CORS, as a page on another origin would).
  PAGE_SERVICES: described(
    v.pipe(
      v.optional(v.string(), ""),
      v.transform((s) => s.trim()),
      v.picklist(["direct", "proxy", ""], "must be direct or proxy"),
    ),
    "`proxy`: forward the services under the storefront's origin (the `*_URL` are this process's); `direct`: the page calls the `*_URL` itself (CORS)",
    "`proxy` in production, else `direct`",
  ),
  ACCOUNT_URL: described(
    peerUrlVar(localUrl("account")),
    "where the account service is, as `PAGE_SERVICES` says whose address it is",
  ),
  CATALOG_URL: described(
    peerUrlVar(localUrl("catalog")),
    "where the catalog service is, as `PAGE_SERVICES` says whose address it is",
  ),
  ORDER_URL: described(
    peerUrlVar(localUrl("order")),
    "where the order service is, as `PAGE_SERVICES` says whose address it is",
  ),
});

export type WebConfig = v.InferOutput<typeof schema>;

export function loadWebConfig(env: Record<string, string | undefined> = process.env): WebConfig {
  return parseEnv(schema, env);
}

/** Whether this process forwards the services' RPCs under its own origin. */
export function forwardsServices(config: WebConfig): boolean {
  if (config.PAGE_SERVICES === "") return config.NODE_ENV === "production";
  return config.PAGE_SERVICES === "proxy";
}

/** The three services' addresses as this process has them (see the header for whose they are). */
export function serviceUrls(config: WebConfig): PageConfig {
  return {
    accountUrl: config.ACCOUNT_URL,
    catalogUrl: config.CATALOG_URL,
    orderUrl: config.ORDER_URL,
  };
}
