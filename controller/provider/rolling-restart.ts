/**
 * The cross-cluster rolling restart. Strimzi's StrimziPodSet controller never
 * restarts a pod whose `strimzi.io/revision` changed (its KafkaRoller does,
 * and it does not run for our paused Kafka CRs), and a stretch cluster must
 * be rolled as one: one node at a time across all remote clusters, brokers
 * before dual-role nodes before controllers, never while any node is not
 * Ready or any cluster is unreachable (the cluster is Degraded then). Deleting
 * a pod is the restart: the podset controller recreates it from the new
 * template.
 *
 * Kafka is asked before each restart (when the provider has its admin channel):
 * the view must be newer than every pod's last turn to Ready, and
 * controller/kafka/health.ts must find nothing that blocks it (a broker not back
 * in every ISR, a voter not caught up, a controller whose restart would leave
 * no caught-up majority). The active controller goes last, as Strimzi's
 * KafkaRoller has it; a Kafka version change takes controllers first, then
 * brokers. Each reconcile decides from what Kafka and the pods say now, so a
 * provider restarted mid-roll carries on.
 */
import type { Logger } from "pino";
import { annotations, labels, type KafkaAdmin, type ManagedResource } from "../../apis/index.ts";
import type { KubeObject } from "../kube/dynamic.ts";
import { describeError } from "../kube/errors.ts";
import type { EventRecorder } from "../kube/events.ts";
import { restartVerdict } from "../kafka/health.ts";
import type { ReconcileResult } from "../runtime/workqueue.ts";
import type { RemoteClient, RemoteClients } from "./clients.ts";
import { podReady } from "./kinds.ts";
import { CredentialsError } from "./credentials.ts";
import type { KafkaSnapshot } from "./kafka-supervisor.ts";
import type { RemoteCache } from "./remote-cache.ts";

export interface RollingRestartDeps {
  /** The RemoteStrimziPodSet managed resources of one Kafka cluster (composite). */
  podSets(composite: string): ManagedResource[];
  clients: Pick<RemoteClients, "get">;
  remote: Pick<RemoteCache, "get">;
  events: Pick<EventRecorder, "record">;
  log: Logger;
  /**
   * Kafka's view per composite. Absent when the provider does not ask Kafka,
   * and unused for a composite no RemoteKafka tells how to ask: then pods'
   * readiness alone decides.
   */
  kafka?: {
    asks(composite: string): boolean;
    snapshot(composite: string): KafkaSnapshot | undefined;
    /** The admin channel the function rendered (the claim's min.insync.replicas). */
    admin(composite: string): Pick<KafkaAdmin, "minInSyncReplicas"> | undefined;
    /** Ask again now. */
    poke(): void;
  };
}

/** How soon a roll waiting on Kafka looks again (Kafka's changes bring it back sooner). */
const kafkaWaitMs = 5000;

export interface DesiredPod {
  cluster: string;
  namespace: string;
  name: string;
  revision: string;
  /** 0 broker only, 1 broker and controller, 2 controller only: the restart order. */
  rank: number;
  nodeId: number;
  /** The Kafka image (so the Kafka version) the pod should run. */
  image: string;
  podSet: ManagedResource;
}

const imageOf = (pod: KubeObject | undefined): string =>
  (pod?.["spec"] as { containers?: { image?: string }[] } | undefined)?.containers?.[0]?.image ??
  "";

interface PodObject extends KubeObject {
  status?: {
    phase?: string;
    conditions?: { type: string; status: string; lastTransitionTime?: string }[];
  };
}

/** When a pod last turned Ready (0 when unknown), to the second as Kubernetes records it. */
function readySince(pod: PodObject): number {
  const t = pod.status?.conditions?.find((c) => c.type === "Ready")?.lastTransitionTime;
  return t ? Date.parse(t) : 0;
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
      const broker = l[labels.brokerRole] === "true";
      const controller = l[labels.controllerRole] === "true";
      out.push({
        cluster: ps.spec.providerConfigRef.name,
        namespace: pod.metadata.namespace ?? m.metadata.namespace ?? "",
        name: pod.metadata.name ?? "",
        revision: pod.metadata.annotations?.[annotations.revision] ?? "",
        rank: broker && !controller ? 0 : broker && controller ? 1 : 2,
        nodeId: Number((pod.metadata.name ?? "").split("-").pop()),
        image: imageOf(pod),
        podSet: ps,
      });
    }
  }
  return out.sort((a, b) => a.rank - b.rank || a.nodeId - b.nodeId || a.name.localeCompare(b.name));
}

export class RollingRestart {
  /** When this provider last restarted a node of each composite. */
  private readonly restartedAt = new Map<string, number>();
  /** The last reason each composite's roll waited for, so that it is reported once. */
  private readonly waitingFor = new Map<string, string>();

  constructor(private readonly deps: RollingRestartDeps) {}

  /**
   * Says, once per reason, that the restart of `pod` waits and why: an event
   * on its podset (RollWaitsForKafka when Kafka's answer holds it, RollWaits
   * when the pods or a cluster do) and a log line.
   */
  private async wait(
    composite: string,
    pod: DesiredPod,
    why: string,
    forKafka: boolean,
  ): Promise<ReconcileResult> {
    if (this.waitingFor.get(composite) !== why) {
      this.waitingFor.set(composite, why);
      this.deps.log.info(
        { composite, pod: pod.name, why },
        forKafka ? "rolling restart: waiting for Kafka" : "rolling restart: waiting",
      );
      await this.deps.events.record(
        pod.podSet,
        "Normal",
        forKafka ? "RollWaitsForKafka" : "RollWaits",
        `restart of ${pod.namespace}/${pod.name} in cluster ${pod.cluster} waits: ${why}`,
      );
    }
    return { requeueAfterMs: kafkaWaitMs };
  }

  /** Looks at one Kafka cluster; restarts at most one node. */
  async reconcile(composite: string): Promise<ReconcileResult> {
    const sets = this.deps.podSets(composite);
    // Part of a change has reached the central cluster, part not yet: roll
    // once all of it has, so that its order holds (an update of a podset brings us back).
    if (new Set(sets.map((ps) => ps.metadata.annotations?.[annotations.rollout] ?? "")).size > 1)
      return undefined;
    const wanted = desiredPods(sets);
    if (wanted.length === 0) return undefined;
    const log = this.deps.log.child({ composite });
    const running = new Map<DesiredPod, PodObject>();
    const clients = new Map<string, RemoteClient>();
    // Why no node may restart now (a cluster unreachable, a node missing or
    // not Ready: the cluster is Degraded); said only when a restart is due.
    const degraded: string[] = [];
    for (const want of wanted) {
      let remote = clients.get(want.cluster);
      if (!remote) {
        try {
          remote = await this.deps.clients.get(want.cluster);
        } catch (err) {
          // Credentials missing or malformed: the ProviderConfig and its managed
          // resources report it; no time to restart anything, and their fix brings us back.
          if (err instanceof CredentialsError) {
            log.debug(
              { cluster: want.cluster, err: err.message },
              "rolling restart: no credentials",
            );
            return undefined;
          }
          throw new Error(
            `rolling restart cannot reach cluster ${want.cluster}: ${describeError(err)}`,
            { cause: err },
          );
        }
        clients.set(want.cluster, remote);
      }
      const seen = await this.deps.remote.get(want.cluster, remote, {
        apiVersion: "v1",
        kind: "Pod",
        namespace: want.namespace,
        name: want.name,
      });
      // Pod events, and the cluster answering again, bring us back.
      if (!seen.synced) {
        degraded.push(`cluster ${want.cluster} cannot be reached`);
        continue;
      }
      const pod = seen.object as PodObject | undefined;
      if (!pod || pod.metadata.deletionTimestamp) {
        degraded.push(`pod ${want.namespace}/${want.name} in cluster ${want.cluster} is missing`);
        continue;
      }
      if (!podReady(pod))
        degraded.push(`pod ${want.namespace}/${want.name} in cluster ${want.cluster} is not Ready`);
      running.set(want, pod);
    }
    const kafka = this.deps.kafka?.asks(composite) ? this.deps.kafka : undefined;
    const snap = kafka?.snapshot(composite);
    // A Kafka version change rolls controllers first, then brokers (as
    // Strimzi upgrades KRaft clusters); any other change brokers first. The
    // active controller goes last among its kind either way.
    const upgrade = wanted.some((w) => {
      const now = imageOf(running.get(w));
      return now !== "" && now !== w.image;
    });
    const leader = snap?.view.quorum.leaderId;
    const order = [...wanted].sort(
      (a, b) =>
        (upgrade ? b.rank - a.rank : a.rank - b.rank) ||
        Number(a.nodeId === leader) - Number(b.nodeId === leader),
    );
    // Only a node seen running at an older revision is due: one in a cluster
    // that cannot be reached is not known to be.
    const stale = order.find((w) => {
      const pod = running.get(w);
      return pod !== undefined && pod.metadata.annotations?.[annotations.revision] !== w.revision;
    });
    if (!stale) {
      this.waitingFor.delete(composite);
      return undefined;
    }
    if (degraded.length > 0)
      return this.wait(composite, stale, [...new Set(degraded)].join("; "), false);
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
    if (listed?.metadata.annotations?.[annotations.revision] !== stale.revision) return undefined;
    let pauses: string[] = [];
    if (kafka) {
      if (!snap) return this.wait(composite, stale, "Kafka cannot be asked", true);
      // Kafka's answer must come from after every pod (the last restarted among them) was Ready.
      const since = Math.max(
        ...[...running.values()].map((p) => readySince(p) + 1000),
        this.restartedAt.get(composite) ?? 0,
      );
      if (snap.at < since) {
        kafka.poke();
        return { requeueAfterMs: 1000 };
      }
      const verdict = restartVerdict(
        snap.view,
        snap.at,
        { nodeId: stale.nodeId, broker: stale.rank < 2, controller: stale.rank > 0 },
        wanted.filter((w) => w.rank < 2).map((w) => w.nodeId),
        kafka.admin(composite)?.minInSyncReplicas,
      );
      if (verdict.blocker) return this.wait(composite, stale, verdict.blocker, true);
      pauses = verdict.pauses;
    }
    const from = running.get(stale)?.metadata.annotations?.[annotations.revision] ?? "none";
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
    this.restartedAt.set(composite, Date.now());
    this.waitingFor.delete(composite);
    const message =
      `restarted pod ${stale.namespace}/${stale.name} in cluster ${stale.cluster} (revision ${from} -> ${stale.revision}); the rest waits until it is Ready` +
      (kafka ? " and Kafka has every replica in sync" : "") +
      (pauses.length > 0
        ? `; acks=all writes to ${pauses.slice(0, 5).join(", ")}${pauses.length > 5 ? ` and ${pauses.length - 5} more` : ""} pause meanwhile (replication factor not above min.insync.replicas)`
        : "");
    log.info(
      { pod: stale.name, cluster: stale.cluster, from, to: stale.revision },
      "rolling restart: restarted a node",
    );
    await this.deps.events.record(stale.podSet, "Normal", "RestartedPod", message);
    return undefined;
  }
}
