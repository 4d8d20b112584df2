/**
 * Encoded responses by request, least recently used first out, bounded in
 * bytes. The function is deterministic: the same request always gets the same
 * response, and Crossplane calls it again with an unchanged request on every
 * reconcile of an unchanged composite, so most calls can skip composing.
 *
 * The key is the request's `meta.tag` when the caller sets one, together with
 * a digest of what Crossplane adds after computing the tag. Crossplane's tag is
 * the SHA-256 of the request marshalled deterministically, but it is computed
 * once per reconcile, before the loop that fetches the resources the function
 * required and calls it again with them: two requests with one tag can differ
 * in their required (and extra) resources, schemas and credentials, and the
 * engine's tag covers the composite, not a step's input. Without a
 * tag, the SHA-256 of the bytes received (a different encoding of the same
 * request only costs a miss).
 */
import { createHash } from "node:crypto";
import type { RunFunctionRequest } from "@crossplane-org/function-sdk-typescript";
import { canonical } from "../apis/canonical.ts";

export class ResponseCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  /** `maxBytes` 0 turns the cache off. */
  constructor(private readonly maxBytes: number) {}

  static key(req: RunFunctionRequest, request: Buffer): string {
    const tag = req.meta?.tag;
    if (!tag) return `sha256:${createHash("sha256").update(request).digest("hex")}`;
    const fetched = canonical([
      req.requiredResources,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- older Crossplane sends extraResources
      req.extraResources,
      req.requiredSchemas,
      req.credentials,
      // A caller whose tag leaves out the step's input (the standalone engine's covers the pipeline).
      req.input,
    ]);
    return `tag:${tag}:${createHash("sha256").update(fetched).digest("hex")}`;
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
