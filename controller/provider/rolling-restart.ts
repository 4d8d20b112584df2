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
 *
 * Node drains (ADR 0023) go the same way: a Kafka pod on a cordoned node is
 * due like a pod at an older revision, under the same rules, but it is not
 * deleted: the provider labels it `stretchkafka.dev/eviction: allowed`, which
 * takes it out of its cluster's PodDisruptionBudget, so that the drain's next
 * eviction succeeds; the podset controller creates it again, without the
 * label, on a node that is not cordoned. A release no eviction uses within
 * `releaseHoldMs` (a cordon nobody drains) is withdrawn, and so is one whose
 * node is no longer cordoned.
 */
import type { Logger } from "pino";
import { annotations, labels, type KafkaAdmin, type ManagedResource } from "../../apis/index.ts";
import type { KubeObject } from "../kube/dynamic.ts";
import { describeError, isConflict, isNotFound } from "../kube/errors.ts";
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
  remote: Pick<RemoteCache, "get" | "node">;
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
  /** Told when a composite's node-drain state (`nodeDrain`) changed. */
  drainChanged?: (composite: string) => void;
  /** How long a released pod holds the one-at-a-time turn without an eviction (default 120 s). */
  releaseHoldMs?: number;
}

/** Kafka pods on cordoned nodes, as `status.kafka.live.nodeDrain` reports them. */
export interface NodeDrainState {
  pods: string[];
  pod?: string;
  state: "Released" | "Evicted" | "Waiting";
  message?: string;
  since?: string;
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
  spec?: { nodeName?: string };
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

/** Where a Kafka pod runs, for a node drain's messages. */
const at = (w: DesiredPod, node: string): string => `${w.cluster}/${node}/${w.name}`;

export class RollingRestart {
  /** When this provider last restarted a node of each composite. */
  private readonly restartedAt = new Map<string, number>();
  /** The last reason each composite's roll waited for, so that it is reported once. */
  private readonly waitingFor = new Map<string, string>();
  /** Pods released for eviction (by uid): when this provider saw the release first. */
  private readonly released = new Map<string, number>();
  /** Pods whose release was withdrawn unused (by uid), and when: not released again for a while. */
  private readonly withdrawn = new Map<string, number>();
  /** Clusters whose Nodes cannot be read, and why (said once). */
  private readonly nodesUnreadable = new Map<string, string>();
  private readonly drains = new Map<string, NodeDrainState>();
  /**
   * Per composite, the pod last released for eviction (its uid, and where it
   * ran): once evicted it is shown as moving until it is back and Ready, since
   * a release lasts only until the drain's next eviction attempt (seconds).
   */
  private readonly moving = new Map<
    string,
    {
      cluster: string;
      namespace: string;
      name: string;
      uid: string;
      at: string;
      releasedAt: string;
    }
  >();

  constructor(private readonly deps: RollingRestartDeps) {}

  /** How long a released pod holds the turn without an eviction. */
  private get hold(): number {
    return this.deps.releaseHoldMs ?? 120_000;
  }

  /** Kafka pods on cordoned nodes of a composite, the one being moved and why it waits. */
  nodeDrain(composite: string): NodeDrainState | undefined {
    return this.drains.get(composite);
  }

  private setDrain(composite: string, next: NodeDrainState | undefined): void {
    const had = this.drains.get(composite);
    const same = (a: NodeDrainState, b: NodeDrainState): boolean =>
      a.state === b.state &&
      a.pod === b.pod &&
      a.message === b.message &&
      a.pods.join() === b.pods.join();
    if (!had && !next) return;
    if (had && next && same(had, next)) return;
    if (next) {
      const since =
        had?.state === next.state && had.pod === next.pod ? had.since : new Date().toISOString();
      this.drains.set(composite, { ...next, ...(since ? { since } : {}) });
    } else this.drains.delete(composite);
    this.deps.drainChanged?.(composite);
  }

  /** Removes the eviction label (the pod is under its budget again), if the pod is still that one. */
  private async withdraw(remote: RemoteClient, want: DesiredPod, pod: PodObject, why: string) {
    try {
      await remote.client.mergePatch("v1", "Pod", want.name, want.namespace, {
        metadata: { uid: pod.metadata.uid, labels: { [labels.eviction]: null } },
      });
    } catch (err) {
      // Gone or created again meanwhile: nothing to withdraw.
      if (isNotFound(err) || isConflict(err)) return;
      throw new Error(
        `cannot withdraw the eviction release of pod ${want.namespace}/${want.name} in cluster ${want.cluster}: ${describeError(err)}`,
        { cause: err },
      );
    }
    this.released.delete(pod.metadata.uid ?? "");
    this.deps.log.info(
      { pod: want.name, cluster: want.cluster, why },
      "node drain: eviction release withdrawn",
    );
    await this.deps.events.record(
      want.podSet,
      "Normal",
      "EvictionReleaseWithdrawn",
      `pod ${want.namespace}/${want.name} in cluster ${want.cluster} is under its PodDisruptionBudget again: ${why}`,
    );
  }

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
    /** The cordoned node the pod is to leave, when it is a drain's move rather than a restart. */
    drained?: string,
  ): Promise<ReconcileResult> {
    const what = drained
      ? `move of ${pod.namespace}/${pod.name} off cordoned node ${drained} in cluster ${pod.cluster}`
      : `restart of ${pod.namespace}/${pod.name} in cluster ${pod.cluster}`;
    if (this.waitingFor.get(composite) !== `${what}: ${why}`) {
      this.waitingFor.set(composite, `${what}: ${why}`);
      this.deps.log.info(
        { composite, pod: pod.name, why, ...(drained ? { node: drained } : {}) },
        drained
          ? "node drain: waiting"
          : forKafka
            ? "rolling restart: waiting for Kafka"
            : "rolling restart: waiting",
      );
      await this.deps.events.record(
        pod.podSet,
        "Normal",
        drained ? "DrainWaits" : forKafka ? "RollWaitsForKafka" : "RollWaits",
        `${what} waits: ${why}`,
      );
    }
    return { requeueAfterMs: kafkaWaitMs };
  }

  /** Forgets releases and withdrawals too old to matter (pods gone long since). */
  private prune(): void {
    const hold = this.hold;
    const now = Date.now();
    for (const [uid, at] of this.released) if (now - at > hold * 10) this.released.delete(uid);
    for (const [uid, at] of this.withdrawn) if (now - at > hold * 5) this.withdrawn.delete(uid);
  }

  /** Looks at one Kafka cluster; restarts, or releases for eviction, at most one node. */
  async reconcile(composite: string): Promise<ReconcileResult> {
    this.prune();
    const sets = this.deps.podSets(composite);
    // Part of a change has reached the central cluster, part not yet: roll
    // once all of it has, so that its order holds (an update of a podset brings us back).
    if (new Set(sets.map((ps) => ps.metadata.annotations?.[annotations.rollout] ?? "")).size > 1)
      return undefined;
    const wanted = desiredPods(sets);
    if (wanted.length === 0) {
      this.moving.delete(composite);
      this.setDrain(composite, undefined);
      return undefined;
    }
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
    const cordoned = await this.cordoned(running, clients);
    const drainPods = [...cordoned].map(([w, node]) => at(w, node));
    // A pod released for eviction holds the turn until it is evicted; a
    // release nobody uses, or whose node is no longer cordoned, is withdrawn.
    for (const [want, pod] of running) {
      if (pod.metadata.labels?.[labels.eviction] !== "allowed") continue;
      const remote = clients.get(want.cluster);
      if (!remote) continue;
      const uid = pod.metadata.uid ?? "";
      const since = this.released.get(uid) ?? Date.now();
      this.released.set(uid, since);
      const node = cordoned.get(want);
      const hold = this.hold;
      if (node && Date.now() - since < hold) {
        this.setDrain(composite, {
          pods: drainPods,
          pod: at(want, node),
          state: "Released",
          message: `released for eviction: the drain's next eviction of it succeeds`,
        });
        return { requeueAfterMs: Math.min(kafkaWaitMs, hold - (Date.now() - since)) };
      }
      await this.withdraw(
        remote,
        want,
        pod,
        node
          ? `no eviction came within ${String(Math.round(hold / 1000))} s of its release (node ${node} is cordoned but not drained); it may be released again later`
          : `its node ${pod.spec?.nodeName ?? "?"} is no longer cordoned`,
      );
      if (node) this.withdrawn.set(uid, Date.now());
      return { requeueAfterMs: 0 };
    }
    // The pod released last, once evicted: moving until it is back and Ready
    // elsewhere (nothing else is released meanwhile: it is missing or not Ready).
    const moved = this.moving.get(composite);
    if (moved) {
      const want = wanted.find(
        (w) =>
          w.cluster === moved.cluster && w.namespace === moved.namespace && w.name === moved.name,
      );
      const pod = want ? running.get(want) : undefined;
      const evicted = want !== undefined && pod?.metadata.uid !== moved.uid;
      if (evicted && !(pod && podReady(pod))) {
        this.setDrain(composite, {
          pods: drainPods,
          pod: moved.at,
          state: "Evicted",
          message: `evicted after its release at ${moved.releasedAt}; comes back on another node, and the next waits until it is Ready and in sync`,
        });
        // Its pod's events bring us back.
        return { requeueAfterMs: kafkaWaitMs };
      }
      // Back and Ready, still there (its release withdrawn), or no longer wanted.
      if (evicted || pod?.metadata.labels?.[labels.eviction] !== "allowed")
        this.moving.delete(composite);
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
    // A pod whose release was withdrawn unused is not released again for a while.
    const rested = (w: DesiredPod): boolean =>
      Date.now() - (this.withdrawn.get(running.get(w)?.metadata.uid ?? "") ?? 0) > this.hold * 5;
    // Only a node seen running at an older revision, or on a cordoned node, is
    // due: one in a cluster that cannot be reached is not known to be.
    const stale = order.find((w) => {
      const pod = running.get(w);
      if (!pod) return false;
      if (cordoned.has(w) && rested(w)) return true;
      return pod.metadata.annotations?.[annotations.revision] !== w.revision;
    });
    if (!stale) {
      this.waitingFor.delete(composite);
      this.setDrain(
        composite,
        drainPods.length > 0
          ? {
              pods: drainPods,
              state: "Waiting",
              message: "released for eviction before and not evicted; released again later",
            }
          : undefined,
      );
      return drainPods.length > 0 ? { requeueAfterMs: kafkaWaitMs } : undefined;
    }
    // On a cordoned node (and not after a withdrawn release) the pod is
    // released for the drain's eviction, never deleted: kubectl drain goes on
    // evicting a pod of that name, so a pod created again by us would be
    // evicted in its turn from a node that is not being drained.
    const drained = rested(stale) ? cordoned.get(stale) : undefined;
    const waitFor = async (why: string, forKafka: boolean): Promise<ReconcileResult> => {
      if (drained)
        this.setDrain(composite, {
          pods: drainPods,
          pod: at(stale, drained),
          state: "Waiting",
          message: why,
        });
      else if (drainPods.length > 0)
        this.setDrain(composite, {
          pods: drainPods,
          state: "Waiting",
          message: `a rolling restart goes first: ${why}`,
        });
      return this.wait(composite, stale, why, forKafka, drained);
    };
    if (degraded.length > 0) return waitFor([...new Set(degraded)].join("; "), false);
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
      if (!snap) return waitFor("Kafka cannot be asked", true);
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
      if (verdict.blocker) return waitFor(verdict.blocker, true);
      pauses = verdict.pauses;
    }
    const pod = running.get(stale);
    const paused =
      pauses.length > 0
        ? `; acks=all writes to ${pauses.slice(0, 5).join(", ")}${pauses.length > 5 ? ` and ${pauses.length - 5} more` : ""} pause meanwhile (replication factor not above min.insync.replicas)`
        : "";
    if (drained) return this.release(composite, stale, drained, pod, remote, drainPods, paused);
    const from = pod?.metadata.annotations?.[annotations.revision] ?? "none";
    try {
      await remote.client.delete("v1", "Pod", stale.name, stale.namespace, {
        ...(pod?.metadata.uid ? { uid: pod.metadata.uid } : {}),
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
      paused;
    log.info(
      { pod: stale.name, cluster: stale.cluster, from, to: stale.revision },
      "rolling restart: restarted a node",
    );
    await this.deps.events.record(stale.podSet, "Normal", "RestartedPod", message);
    return undefined;
  }

  /** Kafka pods on cordoned nodes, with the node; clusters whose Nodes cannot be read are said once. */
  private async cordoned(
    running: Map<DesiredPod, PodObject>,
    clients: Map<string, RemoteClient>,
  ): Promise<Map<DesiredPod, string>> {
    const out = new Map<DesiredPod, string>();
    for (const [want, pod] of running) {
      const node = pod.spec?.nodeName;
      const remote = clients.get(want.cluster);
      if (!node || !remote) continue;
      const n = await this.deps.remote.node(want.cluster, remote, node);
      if (!n.readable) {
        if (this.nodesUnreadable.get(want.cluster) !== n.why) {
          this.nodesUnreadable.set(want.cluster, n.why);
          this.deps.log.warn(
            { cluster: want.cluster, why: n.why },
            "node drain: cannot read the cluster's Nodes, so drains there are not seen (run register-cluster again: it grants reading Nodes)",
          );
        }
        continue;
      }
      this.nodesUnreadable.delete(want.cluster);
      if (n.cordoned) out.set(want, node);
    }
    return out;
  }

  /** Labels the pod so that its budget no longer covers it: the drain's next eviction succeeds. */
  private async release(
    composite: string,
    want: DesiredPod,
    node: string,
    pod: PodObject | undefined,
    remote: RemoteClient,
    drainPods: string[],
    paused: string,
  ): Promise<ReconcileResult> {
    try {
      await remote.client.mergePatch("v1", "Pod", want.name, want.namespace, {
        metadata: { uid: pod?.metadata.uid, labels: { [labels.eviction]: "allowed" } },
      });
    } catch (err) {
      // Gone or created again meanwhile: its events bring us back.
      if (isNotFound(err) || isConflict(err)) return undefined;
      throw new Error(
        `cannot release pod ${want.namespace}/${want.name} in cluster ${want.cluster} for eviction: ${describeError(err)}`,
        { cause: err },
      );
    }
    this.released.set(pod?.metadata.uid ?? "", Date.now());
    this.moving.set(composite, {
      cluster: want.cluster,
      namespace: want.namespace,
      name: want.name,
      uid: pod?.metadata.uid ?? "",
      at: at(want, node),
      releasedAt: new Date().toISOString(),
    });
    this.restartedAt.set(composite, Date.now());
    this.waitingFor.delete(composite);
    this.setDrain(composite, {
      pods: drainPods,
      pod: at(want, node),
      state: "Released",
      message: "released for eviction: the drain's next eviction of it succeeds",
    });
    this.deps.log.info(
      { composite, pod: want.name, cluster: want.cluster, node },
      "node drain: released a pod for eviction",
    );
    await this.deps.events.record(
      want.podSet,
      "Normal",
      "ReleasedForEviction",
      `released pod ${want.namespace}/${want.name} on cordoned node ${node} in cluster ${want.cluster} for eviction (a node drain); the next waits until it is back, Ready and in sync elsewhere${paused}`,
    );
    return { requeueAfterMs: kafkaWaitMs };
  }
}
