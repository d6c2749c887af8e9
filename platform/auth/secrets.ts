// What production accepts as a password or secret: not a published example value, no spaces,
// and enough variety that it was not typed as a phrase (a simple rule, not a strength meter).

/** Values printed in this repository's docs and examples; they are public, so never secret. */
export const publishedValues = new Set(
  [
    "bazaar-admin",
    "choose a real one",
    "choose-one",
    "change-me",
    "changeme",
    "password",
    "admin",
    "secret",
  ].map((s) => s.toLowerCase()),
);

/** Why `value` is too weak to guard production, or undefined when it will do. */
export function secretProblem(value: string): string | undefined {
  if (publishedValues.has(value.trim().toLowerCase()) || /run: |e\.g\.|example/i.test(value)) {
    return "is a published example value: choose your own";
  }
  if (/\s/.test(value)) return "must not contain spaces (use a random value, not a phrase)";
  if (value.length < 12) return `must be at least 12 characters (got ${value.length})`;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((re) => re.test(value));
  const distinct = new Set(value).size;
  if (classes.length < 3 || distinct < 8) {
    return "is too predictable: use at least 3 of lower case, upper case, digits and symbols, with 8 different characters";
  }
  return undefined;
}
