// Whether the gateway can serve: every service it calls answers its own GET /readyz.
export type ReadinessCheck = () => Promise<Record<string, string>>;

/** Readiness from each service's own GET /readyz: a status per service, never a rejection. */
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
