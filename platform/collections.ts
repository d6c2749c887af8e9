// Small helpers over arrays that more than one service needs.

/**
 * The rows for `ids`, in the order of `ids`; an id with no row is left out, an id asked twice
 * answers twice. What a batch get (AIP-231) answers from an unordered `where id in (…)`.
 */
export function inRequestOrder<T>(
  ids: readonly string[],
  rows: Iterable<T>,
  key: (row: T) => string,
): T[] {
  const byKey = new Map<string, T>();
  for (const row of rows) byKey.set(key(row), row);
  return ids.flatMap((id) => {
    const row = byKey.get(id);
    return row === undefined ? [] : [row];
  });
}
