/** Reading the managed resources Crossplane (or the standalone engine) observed. */
import { entrySpecHash } from "../../apis/canonical.ts";
import type { Condition } from "../../apis/index.ts";
import { labels } from "./names.ts";

export interface ObservedMr {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    generation?: number;
    labels?: Record<string, string | undefined>;
    annotations?: Record<string, string | undefined>;
  };
  spec?: {
    providerConfigRef?: { name?: string };
    forProvider?: { manifest?: Record<string, unknown> };
  };
  status?: {
    conditions?: Condition[];
    atProvider?: Record<string, unknown>;
    observedGeneration?: number;
  };
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

interface ObservedSet extends ObservedMr {
  spec?: ObservedMr["spec"] & {
    deletionPolicy?: string;
    forProvider?: {
      objects?: {
        name: string;
        kind: string;
        deletionPolicy?: string;
        forProvider: { manifest?: Record<string, unknown> };
      }[];
    };
  };
  status?: ObservedMr["status"] & {
    atProvider?: {
      objects?: {
        name: string;
        conditions?: Condition[];
        atProvider?: Record<string, unknown>;
        observedGeneration?: number;
        specHash?: string;
      }[];
    };
  };
}

/**
 * Observed resources with each RemoteObjectSet (ADR 0026) seen as the
 * managed resources its entries stand for: under the composition resource
 * name such a resource would have (`<cluster>-<entry>`), with the entry's
 * kind, forProvider and status and the set's labels, annotations and
 * generation; a set
 * whose cluster is abandoned says so on each. Every reader of observed
 * resources then reads a set's objects as it reads managed resources of their
 * own. Where both are observed under one name (a hand-over), the managed
 * resource of its own is the one read.
 */
export function expandObjectSets(observed: ObservedResources): ObservedResources {
  const out: ObservedResources = {};
  const entries: [string, ObservedMr][] = [];
  for (const [name, mr] of Object.entries(observed)) {
    if (mr?.kind !== "RemoteObjectSet") {
      out[name] = mr;
      continue;
    }
    const set: ObservedSet = mr;
    const cluster = clusterOf(set) ?? "";
    const statuses = new Map((set.status?.atProvider?.objects ?? []).map((o) => [o.name, o]));
    const abandoned = condition(set, "Synced");
    const setAbandoned = abandoned?.reason === abandonedReason ? abandoned : undefined;
    const generation = set.metadata?.generation;
    for (const e of set.spec?.forProvider?.objects ?? []) {
      const st = statuses.get(e.name);
      const conditions = setAbandoned
        ? [...(st?.conditions ?? []).filter((c) => c.type !== "Synced"), setAbandoned]
        : st?.conditions;
      // The set's generation moves with every entry's change: a status of the
      // entry as it is now is as current as a managed resource of its own
      // observed at its generation.
      const observedGeneration =
        st?.specHash !== undefined && st.specHash === entrySpecHash(e.forProvider)
          ? generation
          : st?.observedGeneration;
      entries.push([
        `${cluster}-${e.name}`,
        {
          ...(set.apiVersion !== undefined ? { apiVersion: set.apiVersion } : {}),
          kind: e.kind,
          metadata: {
            ...(set.metadata?.name !== undefined ? { name: set.metadata.name } : {}),
            ...(set.metadata?.generation !== undefined
              ? { generation: set.metadata.generation }
              : {}),
            ...(set.metadata?.labels ? { labels: set.metadata.labels } : {}),
            // What the function stamps on the set (the rollout it carries) holds for each entry.
            ...(set.metadata?.annotations ? { annotations: set.metadata.annotations } : {}),
          },
          spec: {
            ...(set.spec?.providerConfigRef
              ? { providerConfigRef: set.spec.providerConfigRef }
              : {}),
            forProvider: e.forProvider,
          },
          ...(st || setAbandoned
            ? {
                status: {
                  ...(conditions ? { conditions } : {}),
                  ...(st?.atProvider ? { atProvider: st.atProvider } : {}),
                  ...(observedGeneration !== undefined ? { observedGeneration } : {}),
                },
              }
            : {}),
        },
      ]);
    }
  }
  for (const [name, mr] of entries) if (!(name in out)) out[name] = mr;
  return out;
}
