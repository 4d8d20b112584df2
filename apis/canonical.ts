/** Canonical JSON, and the hashes both the function and the provider compute from it. */
import { createHash } from "node:crypto";

/** JSON with object keys sorted, so that map order on the wire does not matter. */
export function canonical(value: unknown): string {
  if (Buffer.isBuffer(value)) return JSON.stringify(value.toString("base64"));
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return value === undefined ? "null" : JSON.stringify(value);
}

/**
 * What a RemoteObjectSet entry asks for, as a hash: the provider records it
 * with the entry's status, so a reader knows whether that status is of the
 * entry as it is now (the set's generation moves with every entry's change).
 */
export function entrySpecHash(forProvider: unknown): string {
  return createHash("sha256").update(canonical(forProvider)).digest("hex").slice(0, 16);
}
