/**
 * One RemoteObjectSet per remote cluster (docs/adr/0026): how the remote
 * objects are composed is decided once per composite and recorded in its
 * status, then the managed resources the plan makes are grouped by cluster.
 * Each entry carries what its managed resource would have (kind,
 * forProvider, deletion policy) under that resource's composition name
 * without the `<cluster>-` prefix, so `expandObjectSets` (observed.ts) reads
 * it back under the very name the rest of the function expects.
 */
import {
  groups,
  type ManagedResource,
  type RemoteObjectSet,
  type RemoteObjectSetEntry,
  type StretchKafkaStatus,
} from "../../apis/index.ts";
import { annotations, objectName } from "./names.ts";
import type { ObservedResources } from "./observed.ts";
import type { Problem } from "./validate.ts";

export type RemoteObjectsShape = NonNullable<StretchKafkaStatus["remoteObjects"]>;

const shapes: readonly RemoteObjectsShape[] = ["PerCluster", "PerObject"];

/** The function's input, as a Composition's pipeline step gives it. */
export const inputApiVersion = "function.stretchkafka.dev/v1alpha1";
export const inputKind = "Input";

/** What the Composition asks for new composites; PerObject when it says nothing. */
export function askedShape(input: Record<string, unknown> | undefined): {
  shape: RemoteObjectsShape;
  problems: Problem[];
} {
  const fallback: RemoteObjectsShape = "PerObject";
  if (!input) return { shape: fallback, problems: [] };
  const problems: Problem[] = [];
  const fix = `the Composition's stretch-kafka step takes input {apiVersion: ${inputApiVersion}, kind: ${inputKind}, remoteObjects: PerCluster|PerObject}`;
  if (input["apiVersion"] !== inputApiVersion || input["kind"] !== inputKind)
    problems.push({
      severity: "fatal",
      field: "input",
      message: `input is ${String(input["apiVersion"])}/${String(input["kind"])}; ${fix}`,
    });
  for (const key of Object.keys(input))
    if (!["apiVersion", "kind", "remoteObjects"].includes(key))
      problems.push({ severity: "fatal", field: `input.${key}`, message: `unknown field; ${fix}` });
  const asked = input["remoteObjects"];
  if (asked !== undefined && !shapes.includes(asked as RemoteObjectsShape))
    problems.push({
      severity: "fatal",
      field: "input.remoteObjects",
      message: `${JSON.stringify(asked)} is not PerCluster or PerObject; ${fix}`,
    });
  return {
    shape: shapes.includes(asked as RemoteObjectsShape) ? (asked as RemoteObjectsShape) : fallback,
    problems,
  };
}

/**
 * The shape of this composite's remote objects: what its status recorded;
 * else what is observed (a status write that was lost, or a reader's cache
 * behind it); else per object for a composite that already has a cluster id
 * (created before sets, or restored from a backup: its remote objects name
 * managed resources of their own until they are handed over); else, a new
 * composite, what the Composition asks for.
 */
export function remoteObjectsShape(o: {
  recorded: RemoteObjectsShape | undefined;
  observed: ObservedResources;
  clusterId: string | undefined;
  asked: RemoteObjectsShape;
}): RemoteObjectsShape {
  if (o.recorded) return o.recorded;
  const kinds = Object.values(o.observed).map((mr) => mr?.kind ?? "");
  if (kinds.includes("RemoteObjectSet")) return "PerCluster";
  if (kinds.some((k) => k.startsWith("Remote"))) return "PerObject";
  return o.clusterId ? "PerObject" : o.asked;
}

/** The composition resource name of a cluster's set: no entry's name can take it. */
export const setResourceName = (cluster: string): string => `${cluster}-objects`;

/**
 * The managed resources, by composition resource name, grouped into one set
 * per cluster. Each set carries the labels its resources share and, where it
 * has podsets, the rollout they are stamped with.
 */
export function objectSets(
  resources: { name: string; cluster: string; mr: ManagedResource }[],
  composite: string,
): Map<string, RemoteObjectSet> {
  const byCluster = new Map<string, typeof resources>();
  for (const r of resources) byCluster.set(r.cluster, [...(byCluster.get(r.cluster) ?? []), r]);
  const out = new Map<string, RemoteObjectSet>();
  for (const [cluster, list] of byCluster) {
    const first = list[0]?.mr;
    if (!first) continue;
    const entries = list.map((r): RemoteObjectSetEntry => ({
      name: r.name.slice(cluster.length + 1),
      kind: r.mr.kind,
      ...(r.mr.spec.deletionPolicy === "Orphan" ? { deletionPolicy: "Orphan" as const } : {}),
      // Every planned object is named and namespaced (the set's schema requires both).
      forProvider: r.mr.spec.forProvider as RemoteObjectSetEntry["forProvider"],
    }));
    const [one, ...more] = entries;
    if (!one) continue;
    const rollout = list.find((r) => r.mr.metadata.annotations?.[annotations.rollout])?.mr.metadata
      .annotations?.[annotations.rollout];
    out.set(setResourceName(cluster), {
      apiVersion: groups.remote,
      kind: "RemoteObjectSet",
      metadata: {
        name: objectName([composite, cluster, "objects"]),
        ...(first.metadata.labels ? { labels: first.metadata.labels } : {}),
        ...(rollout ? { annotations: { [annotations.rollout]: rollout } } : {}),
        ...(first.metadata.finalizers ? { finalizers: first.metadata.finalizers } : {}),
      },
      spec: {
        providerConfigRef: first.spec.providerConfigRef,
        forProvider: { objects: [one, ...more] },
      },
    });
  }
  return out;
}

/**
 * Where a composite recorded per object is in its hand-over to sets, once the
 * Composition asks for sets (ADR 0026): its managed resources are composed
 * with deletionPolicy Orphan first, and only once every one observed has it
 * are the sets composed instead. The managed resources then go (Crossplane
 * or the engine deletes what is no longer composed), each leaving its remote
 * object in place kept for the claim, and each set's entry takes the object
 * up with the same manifest: nothing in the remote clusters changes.
 * Started only once the composite is settled (every cluster ready, no step
 * pending), so no change of Kafka runs across it.
 */
export function handOver(o: {
  recorded: RemoteObjectsShape;
  asked: RemoteObjectsShape;
  settled: boolean;
  /** The per-object managed resources this pass composes, by composition resource name. */
  managed: { name: string; mr: ManagedResource }[];
  /** The composed resources as observed (sets not expanded). */
  observed: ObservedResources;
}): { phase: "none" | "waiting" | "orphaning" | "sets"; message?: string } {
  if (o.recorded !== "PerObject" || o.asked !== "PerCluster") return { phase: "none" };
  // Those the plan does not keep anyway (volumes are Orphan already), as observed.
  const toOrphan = o.managed.filter(
    ({ name, mr }) => o.observed[name] !== undefined && mr.spec.deletionPolicy !== "Orphan",
  );
  const notYet = toOrphan.filter(
    ({ name }) =>
      (o.observed[name]?.spec as { deletionPolicy?: string } | undefined)?.deletionPolicy !==
      "Orphan",
  );
  const started = toOrphan.length > notYet.length;
  // Not started, and the composite not settled: it waits (a change under way finishes first).
  if (!started && !o.settled)
    return {
      phase: "waiting",
      message:
        "the Composition asks for one RemoteObjectSet per cluster; this composite's managed resources (one per remote object) are handed over once every cluster is ready and no change is under way",
    };
  if (notYet.length > 0)
    return {
      phase: "orphaning",
      message: `handing over to one RemoteObjectSet per cluster: ${String(toOrphan.length - notYet.length)} of ${String(toOrphan.length)} managed resources have deletionPolicy Orphan; the sets are composed once all have`,
    };
  return {
    phase: "sets",
    message:
      "handing over to one RemoteObjectSet per cluster: the managed resources (deletionPolicy Orphan) go and leave their remote objects in place, which the sets take up unchanged",
  };
}
