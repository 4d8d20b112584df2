/**
 * What the function asks Crossplane to fetch (each cluster's ProviderConfig),
 * and what it learns from them and from the observed resources: a
 * ProviderConfig that does not exist, and the cluster id and node ids that a
 * deleted claim of the same name left with its kept volumes, or that the
 * running podsets carry. No I/O: Crossplane fetches and calls again.
 */
import type { Requirements, RunFunctionRequest } from "@crossplane-org/function-sdk-typescript";
import type { NodeIdAllocation, ProviderConfig } from "../../apis/index.ts";
import { annotations, labels } from "./names.ts";
import { allocationFromObserved } from "./node-ids.ts";
import { byCluster, type ObservedResources } from "./observed.ts";
import type { ApiShape, ConfigRef } from "./shape.ts";
import type { Spec } from "./spec.ts";
import type { Problem } from "./validate.ts";

/** A cluster's config reference as the XR gives it (a v2 XR names its kind too). */
const refOf = (c: Spec["clusters"][number]): ConfigRef => c.providerConfigRef;

/**
 * Asks Crossplane for the ProviderConfig of each cluster nothing is composed
 * in yet; it fetches them and calls again with them in requiredResources, so
 * the function can refuse a claim naming one that does not exist, and take up
 * volumes a deleted claim kept, without doing any I/O itself.
 *
 * Only those: Crossplane (v2.4 on) watches what a function requires and
 * reconciles every composite that required an object whenever it changes.
 * The provider writes a ProviderConfig's status whenever a managed resource
 * starts or stops using it, so with every composite requiring its clusters'
 * ProviderConfigs, each new claim's managed resources made every other
 * claim on those clusters reconcile again, many times (bench:e2e: a new
 * claim among 100 took 14x the standalone engine's time). A cluster already
 * composed has nothing left to learn from its ProviderConfig: the provider
 * holds a ProviderConfig in use, and kept volumes are taken up only by a new
 * claim or a newly added cluster, which have nothing composed yet. A cluster
 * whose reference changes is asked for again, so a wrong name is still refused.
 */
export function providerConfigRequirements(
  spec: Spec,
  observed: ObservedResources,
  shape: ApiShape,
): Requirements {
  const composed = byCluster(observed);
  const resources: Requirements["resources"] = {};
  for (const c of spec.clusters) {
    // Composed there with this ProviderConfig: a changed reference is asked for again.
    const there = composed.get(c.name) ?? [];
    if (
      there.length > 0 &&
      there.every((mr) => mr.spec?.providerConfigRef?.name === c.providerConfigRef.name)
    )
      continue;
    const { key, selector } = shape.config(refOf(c));
    resources[key] = selector;
  }
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- a required field of the message
  return { extraResources: {}, resources, schemas: {} };
}

/** The items Crossplane fetched for a requirement; undefined before it looked. */
function fetched(req: RunFunctionRequest, key: string): { resource?: unknown }[] | undefined {
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- older Crossplane sends extraResources
  return (req.requiredResources[key] ?? req.extraResources[key])?.items;
}

/** ProviderConfigs Crossplane looked for and did not find (none known before it looked). */
export function missingProviderConfigs(
  req: RunFunctionRequest,
  spec: Spec,
  shape: ApiShape,
): Problem[] {
  const problems: Problem[] = [];
  spec.clusters.forEach((c, i) => {
    const { key, what } = shape.config(refOf(c));
    if (fetched(req, key)?.length === 0) {
      problems.push({
        severity: "fatal",
        field: `spec.clusters[${i}].providerConfigRef.name`,
        message: `${what} does not exist; register the cluster first (stretch-kafka register-cluster)`,
      });
    }
  });
  return problems;
}

/**
 * What a deleted claim of the same name left in the clusters (the provider
 * records it on each ProviderConfig when it keeps a data volume): the cluster
 * id the volumes were formatted with, and which node each belongs to.
 */
export function keptVolumes(
  req: RunFunctionRequest,
  spec: Spec,
  claim: string,
  shape: ApiShape,
): { clusterId?: string; allocation?: NodeIdAllocation } {
  let clusterId: string | undefined;
  const found = new Map<string, { cluster: string; pool: string; ids: number[] }>();
  for (const c of spec.clusters) {
    const pc = fetched(req, shape.config(refOf(c)).key)?.[0]?.resource as
      ProviderConfig | undefined;
    const kept = pc?.status?.keptVolumes?.[claim];
    for (const n of Object.values(kept?.nodes ?? {})) {
      if (!n) continue;
      const k = `${c.name}/${n.pool}`;
      const entry = found.get(k) ?? { cluster: c.name, pool: n.pool, ids: [] };
      entry.ids.push(n.id);
      found.set(k, entry);
      clusterId ??= kept?.clusterId;
    }
  }
  const allocation = allocationFromObserved([...found.values()]);
  return { ...(clusterId ? { clusterId } : {}), ...(allocation ? { allocation } : {}) };
}

/**
 * The cluster id the composed node ConfigMaps carry, for a composite whose
 * status does not have it (lost, or not yet seen by the reader): the kept
 * volumes it was first read from are forgotten as soon as the provider takes
 * them up again, so a second pass must not fall back to a new id.
 */
export function recoveredClusterId(observed: ObservedResources): string | undefined {
  const seen = new Map<string, number>();
  for (const mr of Object.values(observed)) {
    if (mr?.kind !== "RemoteConfigMap") continue;
    const id = (mr.spec?.forProvider?.manifest?.["data"] as Record<string, string> | undefined)?.[
      "cluster.id"
    ];
    if (id) seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  // One id in a sound cluster; the one most nodes carry otherwise.
  return [...seen.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}

/** The node ids the running podsets carry (a composite that lost its status). */
export function recoveredAllocation(
  observed: ObservedResources,
): ReturnType<typeof allocationFromObserved> {
  const found: { cluster: string; pool: string; ids: number[] }[] = [];
  for (const mr of Object.values(observed)) {
    if (mr?.kind !== "RemoteStrimziPodSet") continue;
    const manifest = mr.spec?.forProvider?.manifest as
      | { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } }
      | undefined;
    const ids = manifest?.metadata?.annotations?.[annotations.nodeIds];
    const pool = manifest?.metadata?.labels?.[labels.poolName];
    const cluster = mr.metadata?.labels?.[labels.stretchCluster];
    if (ids && pool && cluster)
      found.push({ cluster, pool, ids: ids.split(",").filter(Boolean).map(Number) });
  }
  return allocationFromObserved(found);
}
