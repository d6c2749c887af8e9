// Reading errors that wrap other errors (drizzle around postgres.js, Connect around a socket).

/**
 * `error`, then its cause, then that one's cause…: every layer a wrapper may have hidden the
 * interesting one under. Stops at a non-object and after a few layers, so a cycle ends too.
 */
export function* causes(error: unknown, maxDepth = 8): Generator<object> {
  let current: unknown = error;
  for (
    let depth = 0;
    depth < maxDepth && typeof current === "object" && current !== null;
    depth++
  ) {
    yield current;
    current = (current as { cause?: unknown }).cause;
  }
}
