// How the services other than account learn whether a user token was revoked: they ask the
// account service for the account's current token version (GetTokenVersion) and remember the
// answer for a short window, so a revoked token keeps working elsewhere for at most that long.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AccountService } from "../../gen/bazaar/account/v1/account_pb.js";
import { retryInterceptor } from "../http/retry.js";
import { Lru } from "../lru.js";
import type { TokenSigner, TokenVersionCheck } from "./auth.js";

export interface TokenVersionOptions {
  /** The account service's base URL. */
  accountUrl: string;
  /** Signs this service's identity on the call. */
  signer: TokenSigner;
  /** How long a learned version is trusted. */
  cacheSeconds: number;
  timeoutMs: number;
  /** Accounts remembered at most; the least recently used is forgotten first. */
  maxEntries?: number;
}

/** openBase's `tokenVersions` for a service configured with `tokenVersionEntries`. */
export function tokenVersionsFromConfig(
  config: { ACCOUNT_URL: string; TOKEN_VERSION_CACHE_SECONDS: number },
  timeoutMs: number,
): (base: { signer: TokenSigner }) => TokenVersionCheck {
  return ({ signer }) =>
    accountTokenVersions({
      accountUrl: config.ACCOUNT_URL,
      signer,
      cacheSeconds: config.TOKEN_VERSION_CACHE_SECONDS,
      timeoutMs,
    });
}

export function accountTokenVersions(options: TokenVersionOptions): TokenVersionCheck {
  const client = createClient(
    AccountService,
    createConnectTransport({
      baseUrl: options.accountUrl,
      httpVersion: "1.1",
      acceptCompression: [],
      // A replica restarting or killed costs no UNAVAILABLE: the read goes to another one.
      interceptors: [retryInterceptor()],
    }),
  );
  const token = options.signer.serviceTokenSource();
  return cachedTokenVersions(async (accountId) => {
    const { tokenVersion } = await client.getTokenVersion(
      { accountId },
      { headers: { authorization: `Bearer ${await token()}` }, timeoutMs: options.timeoutMs },
    );
    return tokenVersion;
  }, options);
}

/**
 * A version check over `fetch`, each answer kept `cacheSeconds`. When the account service cannot
 * answer, the last known version (however old) still decides; with none, the call fails
 * UNAVAILABLE rather than accept a token that may be revoked.
 */
export function cachedTokenVersions(
  fetch: (accountId: string) => Promise<number>,
  options: { cacheSeconds: number; maxEntries?: number },
): TokenVersionCheck {
  const known = new Lru<{ version: number; at: number }>(options.maxEntries ?? 10_000);
  const inFlight = new Map<string, Promise<number>>();
  const remember = (accountId: string, version: number) => {
    known.set(accountId, { version, at: Date.now() });
  };
  const current = async (accountId: string): Promise<number> => {
    const entry = known.get(accountId);
    if (entry && Date.now() - entry.at < options.cacheSeconds * 1000) return entry.version;
    let pending = inFlight.get(accountId);
    if (!pending) {
      // Concurrent calls for one account share one question.
      pending = fetch(accountId).finally(() => inFlight.delete(accountId));
      inFlight.set(accountId, pending);
    }
    try {
      const version = await pending;
      remember(accountId, version);
      return version;
    } catch (error) {
      if (entry) return entry.version;
      throw new ConnectError(
        "cannot check the access token now (the account service is unavailable); try again later",
        Code.Unavailable,
        undefined,
        undefined,
        error,
      );
    }
  };
  return async (accountId, version) => version >= (await current(accountId));
}
