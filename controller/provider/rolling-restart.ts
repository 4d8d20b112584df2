/**
 * The cross-cluster rolling restart. Strimzi's StrimziPodSet controller never
 * restarts a pod whose `strimzi.io/revision` changed (its KafkaRoller does,
 * and it does not run for our paused Kafka CRs), and a stretch cluster must
 * be rolled as one: one node at a time across all remote clusters, brokers
 * before dual-role nodes before controllers, never while any node is not
 * Ready or any cluster is unreachable (the cluster is Degraded then). Deleting
 * a pod is the restart: the podset controller recreates it from the new
 * template.
 */
import type { Logger } from "pino";
import type { KubeObject } from "../kube/dynamic.ts";
import { describeError } from "../kube/errors.ts";
import type { EventRecorder } from "../kube/events.ts";
import type { ReconcileResult } from "../runtime/workqueue.ts";
import type { RemoteClient, RemoteClients } from "./clients.ts";
import { podReady } from "./kinds.ts";
import type { RemoteCache } from "./remote-cache.ts";
import type { ManagedResource } from "./reconciler.ts";

const revisionAnnotation = "strimzi.io/revision";

export interface RollingRestartDeps {
  /** The RemoteStrimziPodSet managed resources of one Kafka cluster (composite). */
  podSets(composite: string): ManagedResource[];
  clients: Pick<RemoteClients, "get">;
  remote: Pick<RemoteCache, "get">;
  events: Pick<EventRecorder, "record">;
  log: Logger;
}

export interface DesiredPod {
  cluster: string;
  namespace: string;
  name: string;
  revision: string;
  /** 0 broker only, 1 broker and controller, 2 controller only: the restart order. */
  rank: number;
  nodeId: number;
  podSet: ManagedResource;
}

interface PodObject extends KubeObject {
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

export function desiredPods(podSets: ManagedResource[]): DesiredPod[] {
  const out: DesiredPod[] = [];
  for (const ps of podSets) {
    const m = ps.spec.forProvider.manifest;
    const pods = ((m["spec"] as { pods?: KubeObject[] } | undefined)?.pods ?? []).filter(
      (p) => p.metadata.name,
    );
    for (const pod of pods) {
      const l = pod.metadata.labels ?? {};
      const broker = l["strimzi.io/broker-role"] === "true";
      const controller = l["strimzi.io/controller-role"] === "true";
      out.push({
        cluster: ps.spec.providerConfigRef.name,
        namespace: pod.metadata.namespace ?? m.metadata.namespace ?? "",
        name: pod.metadata.name ?? "",
        revision: pod.metadata.annotations?.[revisionAnnotation] ?? "",
        rank: broker && !controller ? 0 : broker && controller ? 1 : 2,
        nodeId: Number((pod.metadata.name ?? "").split("-").pop()),
        podSet: ps,
      });
    }
  }
  return out.sort((a, b) => a.rank - b.rank || a.nodeId - b.nodeId || a.name.localeCompare(b.name));
}

export class RollingRestart {
  constructor(private readonly deps: RollingRestartDeps) {}

  /** Looks at one Kafka cluster; restarts at most one node. */
  async reconcile(composite: string): Promise<ReconcileResult> {
    const wanted = desiredPods(this.deps.podSets(composite));
    if (wanted.length === 0) return undefined;
    const log = this.deps.log.child({ composite });
    const running = new Map<DesiredPod, PodObject>();
    const clients = new Map<string, RemoteClient>();
    for (const want of wanted) {
      let remote = clients.get(want.cluster);
      if (!remote) {
        try {
          remote = await this.deps.clients.get(want.cluster);
        } catch {
          return undefined; // the credentials' problem is reported elsewhere; not a time to restart anything
        }
        clients.set(want.cluster, remote);
      }
      const seen = await this.deps.remote.get(want.cluster, remote, {
        apiVersion: "v1",
        kind: "Pod",
        namespace: want.namespace,
        name: want.name,
      });
      // Degraded: a cluster unreachable, or a node missing or not Ready. Pod events bring us back.
      if (!seen.synced) return undefined;
      const pod = seen.object as PodObject | undefined;
      if (!pod || pod.metadata.deletionTimestamp || !podReady(pod)) return undefined;
      running.set(want, pod);
    }
    const stale = wanted.find(
      (w) => running.get(w)?.metadata.annotations?.[revisionAnnotation] !== w.revision,
    );
    if (!stale) return undefined;
    const remote = clients.get(stale.cluster);
    if (!remote) return undefined;
    // The podset in that cluster must already carry the new definition: a pod
    // deleted before would come back with the old one (e.g. right after its
    // cluster returns, before its podset is applied again) and be restarted twice.
    const m = stale.podSet.spec.forProvider.manifest;
    const remoteSet = await this.deps.remote.get(stale.cluster, remote, {
      apiVersion: m.apiVersion,
      kind: m.kind,
      namespace: m.metadata.namespace ?? stale.namespace,
      name: m.metadata.name ?? "",
    });
    if (!remoteSet.synced) return undefined;
    const listed = (
      (remoteSet.object?.["spec"] as { pods?: KubeObject[] } | undefined)?.pods ?? []
    ).find((p) => p.metadata.name === stale.name);
    if (listed?.metadata.annotations?.[revisionAnnotation] !== stale.revision) return undefined;
    const from = running.get(stale)?.metadata.annotations?.[revisionAnnotation] ?? "none";
    try {
      await remote.client.delete("v1", "Pod", stale.name, stale.namespace, {
        ...(running.get(stale)?.metadata.uid
          ? { uid: running.get(stale)?.metadata.uid ?? "" }
          : {}),
      });
    } catch (err) {
      throw new Error(
        `cannot restart pod ${stale.namespace}/${stale.name} in cluster ${stale.cluster}: ${describeError(err)}`,
        { cause: err },
      );
    }
    const message = `restarted pod ${stale.namespace}/${stale.name} in cluster ${stale.cluster} (revision ${from} -> ${stale.revision}); the rest waits until it is Ready`;
    log.info(
      { pod: stale.name, cluster: stale.cluster, from, to: stale.revision },
      "rolling restart: restarted a node",
    );
    await this.deps.events.record(stale.podSet, "Normal", "RestartedPod", message);
    return undefined;
  }
}
