/** Reading the managed resources Crossplane (or the standalone engine) observed. */
import type { Condition } from "../../apis/index.ts";
import { labels } from "./names.ts";

export interface ObservedMr {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    labels?: Record<string, string | undefined>;
    annotations?: Record<string, string | undefined>;
  };
  spec?: {
    providerConfigRef?: { name?: string };
    forProvider?: { manifest?: Record<string, unknown> };
  };
  status?: { conditions?: Condition[]; atProvider?: Record<string, unknown> };
}

/** Observed composed resources, by composition resource name. */
export type ObservedResources = Record<string, ObservedMr | undefined>;

export function condition(mr: ObservedMr, type: string): Condition | undefined {
  return mr.status?.conditions?.find((c) => c.type === type);
}

export function isReady(mr: ObservedMr): boolean {
  return condition(mr, "Ready")?.status === "True";
}

export function isSynced(mr: ObservedMr): boolean {
  return condition(mr, "Synced")?.status === "True";
}

/** The provider's reason when it cannot reach a cluster's API server at all. */
export const unreachableReason = "ClusterUnreachable";

/**
 * The provider's Synced reason for a remote object that a managed resource
 * this central cluster does not have manages (left by a lost central cluster).
 */
export const unknownManagerReason = "ManagedByUnknownResource";

/**
 * The provider's Synced reason for a managed resource whose ProviderConfig is
 * abandoned (the cluster given up for good): nothing is applied there.
 */
export const abandonedReason = "Abandoned";

export function clusterOf(mr: ObservedMr): string | undefined {
  return mr.metadata?.labels?.[labels.stretchCluster];
}

export function byCluster(observed: ObservedResources): Map<string, ObservedMr[]> {
  const out = new Map<string, ObservedMr[]>();
  for (const mr of Object.values(observed)) {
    if (!mr) continue;
    const c = clusterOf(mr);
    if (!c) continue;
    const list = out.get(c) ?? [];
    list.push(mr);
    out.set(c, list);
  }
  return out;
}

/** The observed MR whose remote object has this kind and name in this cluster. */
export function findRemote(
  observed: ObservedResources,
  cluster: string,
  mrKind: string,
  remoteName: string,
): ObservedMr | undefined {
  for (const mr of Object.values(observed)) {
    if (!mr || mr.kind !== mrKind || clusterOf(mr) !== cluster) continue;
    const meta = mr.spec?.forProvider?.manifest?.["metadata"] as { name?: string } | undefined;
    if (meta?.name === remoteName) return mr;
  }
  return undefined;
}
