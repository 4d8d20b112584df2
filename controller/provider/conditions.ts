/** Crossplane's managed-resource conditions (crossplane-runtime's types and reasons). */
import type { Condition } from "../../apis/index.ts";

export const reasons = {
  available: "Available",
  unavailable: "Unavailable",
  creating: "Creating",
  deleting: "Deleting",
  reconcileSuccess: "ReconcileSuccess",
  reconcileError: "ReconcileError",
  reconcilePaused: "ReconcilePaused",
  /** Our own: the remote API server cannot be reached; the function reads it. */
  clusterUnreachable: "ClusterUnreachable",
  /** Our own: another managed resource already manages the remote object. */
  conflict: "Conflict",
  /**
   * Our own: the managed resource that manages the remote object does not
   * exist in this central cluster (left by a lost central cluster, or released
   * from an abandoned cluster); the function reads it.
   */
  unknownManager: "ManagedByUnknownResource",
} as const;

export function condition(
  type: "Ready" | "Synced",
  status: "True" | "False" | "Unknown",
  reason: string,
  message?: string,
): Omit<Condition, "lastTransitionTime"> {
  return { type, status, reason, ...(message ? { message } : {}) };
}

/**
 * Merges new conditions into old ones; lastTransitionTime changes only when a
 * condition's status does, so an unchanged status writes nothing.
 */
export function mergeConditions(
  old: Condition[] | undefined,
  updates: Omit<Condition, "lastTransitionTime">[],
  now: string,
  observedGeneration?: number,
): Condition[] {
  const out = [...(old ?? [])];
  for (const u of updates) {
    const i = out.findIndex((c) => c.type === u.type);
    const prev = i >= 0 ? out[i] : undefined;
    const next: Condition = {
      ...u,
      lastTransitionTime: prev && prev.status === u.status ? prev.lastTransitionTime : now,
      ...(observedGeneration !== undefined ? { observedGeneration } : {}),
    };
    if (i >= 0) out[i] = next;
    else out.push(next);
  }
  return out.sort((a, b) => a.type.localeCompare(b.type));
}
