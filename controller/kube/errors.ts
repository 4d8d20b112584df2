/** Reading the Kubernetes API's error responses, from our dynamic client or client-node's typed APIs. */
import { ApiException } from "@kubernetes/client-node";
import { KubeApiError } from "./dynamic.ts";

export interface KubeStatus {
  code: number;
  reason: string;
  message: string;
}

/** The HTTP code, reason and message of a failed API call, or undefined for other errors. */
export function kubeStatus(err: unknown): KubeStatus | undefined {
  if (err instanceof KubeApiError)
    return { code: err.code, reason: err.reason, message: err.serverMessage };
  if (!(err instanceof ApiException)) return undefined;
  const code = err.code;
  const raw: unknown = err.body;
  let body: unknown = raw;
  if (typeof raw === "string") {
    try {
      body = JSON.parse(raw) as unknown;
    } catch {
      // Not a Status object: the raw body is the best message there is.
      return { code, reason: "", message: raw };
    }
  }
  const b = (body ?? {}) as { reason?: unknown; message?: unknown };
  return {
    code,
    reason: typeof b.reason === "string" ? b.reason : "",
    message: typeof b.message === "string" ? b.message : err.message,
  };
}

/** The API error somewhere in an error's cause chain, if any. */
export function apiErrorIn(err: unknown): KubeApiError | undefined {
  for (let e: unknown = err; e !== undefined; e = e instanceof Error ? e.cause : undefined) {
    if (e instanceof KubeApiError) return e;
  }
  return undefined;
}

export function isNotFound(err: unknown): boolean {
  return kubeStatus(err)?.code === 404;
}

/** A write refused because the object changed (resourceVersion or uid precondition). */
export function isConflict(err: unknown): boolean {
  return kubeStatus(err)?.code === 409;
}

/** A one-line description of an error for logs and conditions, without its stack. */
export function describeError(err: unknown): string {
  const s = kubeStatus(err);
  if (s) return `${s.code} ${s.reason}: ${s.message}`.trim();
  if (err instanceof Error) {
    const cause = err.cause === undefined ? "" : `: ${describeError(err.cause)}`;
    return `${err.message}${cause}`;
  }
  return String(err);
}
