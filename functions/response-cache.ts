/**
 * Encoded responses by request, least recently used first out, bounded in
 * bytes. The function is deterministic: the same request always gets the same
 * response, and Crossplane calls it again with an unchanged request on every
 * reconcile of an unchanged composite, so most calls can skip composing.
 *
 * The key is the request's `meta.tag` when the caller sets one: Crossplane's
 * is the SHA-256 of the request marshalled deterministically, so two requests
 * with one tag are the same request. Without a tag, the SHA-256 of the bytes
 * received (a different encoding of the same request only costs a miss).
 */
import { createHash } from "node:crypto";

export class ResponseCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  /** `maxBytes` 0 turns the cache off. */
  constructor(private readonly maxBytes: number) {}

  static key(tag: string | undefined, request: Buffer): string {
    return tag ? `tag:${tag}` : `sha256:${createHash("sha256").update(request).digest("hex")}`;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  get(key: string): Buffer | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      // Most recently used goes last: Map iterates in insertion order.
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, response: Buffer): void {
    if (response.length > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.bytes -= old.length;
    }
    this.entries.set(key, response);
    this.bytes += response.length;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= v.length;
    }
  }
}
