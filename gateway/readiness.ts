// What the gateway's /readyz reports about the services it calls. Readiness itself is the
// gateway's own: a running gateway can serve, since a missing service costs only the fields
// that need it (an UNAVAILABLE error there, the rest of the answer intact). Taking the gateway
// out of rotation because the order service is down would stop browsing too.
export type ReadinessCheck = () => Promise<Record<string, string>>;

/** Each service's own GET /readyz: a status per service, never a rejection. */
export function httpReadiness(urls: Record<string, string>, timeoutMs = 2_000): ReadinessCheck {
  return async () => {
    const entries = await Promise.all(
      Object.entries(urls).map(async ([name, url]) => {
        try {
          const res = await fetch(new URL("/readyz", url), {
            signal: AbortSignal.timeout(timeoutMs),
          });
          await res.body?.cancel();
          return [name, res.ok ? "ready" : `not ready (HTTP ${res.status})`] as const;
        } catch {
          return [name, "unreachable"] as const;
        }
      }),
    );
    return Object.fromEntries(entries);
  };
}
