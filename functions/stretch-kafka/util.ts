/** Small helpers for the generated API types. */

/** A string map without the `undefined` values strict index signatures allow. */
export function stringMap(
  m: Record<string, string | undefined> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m ?? {})) if (v !== undefined) out[k] = v;
  return out;
}
