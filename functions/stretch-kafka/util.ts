/** Small helpers: the generated API types' string maps, host kinds. */

/** A string map without the `undefined` values strict index signatures allow. */
export function stringMap(
  m: Record<string, string | undefined> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m ?? {})) if (v !== undefined) out[k] = v;
  return out;
}

/** Whether a host is an IP address (v4 or v6) rather than a name: certificates name the two differently. */
export function isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}
