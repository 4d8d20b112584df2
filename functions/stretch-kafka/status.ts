/**
 * The composite's status and conditions from what the provider observed:
 * per cluster (reachable, synced, pods ready), the Kafka cluster (nodes by
 * role, bootstrap servers), and the conditions Degraded, QuorumAtRisk,
 * DataAtRisk, Draining and Evacuated.
 */
import type { ClusterStatus, KafkaLive } from "../../apis/index.ts";
import { liveQuorumRisk, refused } from "./live.ts";
import {
  byCluster,
  condition,
  isReady,
  isSynced,
  unknownManagerReason,
  unreachableReason,
  type ObservedMr,
  type ObservedResources,
} from "./observed.ts";
import { majorityWithout, quorumRisk } from "./quorum.ts";
import type { Leaving } from "./removal.ts";
import type { Topology } from "./topology.ts";

export interface ClusterHealth extends ClusterStatus {
  name: string;
  reachable: boolean;
  synced: boolean;
  ready: boolean;
  /** Objects whose remote counterpart a managed resource unknown here manages (not in status). */
  notOurs?: number;
}

/** The earliest time any of these resources was reported unreachable (when the outage was first seen). */
function unreachableSince(mrs: ObservedMr[]): string | undefined {
  return mrs
    .map((m) => condition(m, "Synced"))
    .filter((c) => c?.reason === unreachableReason && c.lastTransitionTime)
    .map((c) => c?.lastTransitionTime ?? "")
    .sort()[0];
}

/** A condition the function reports on the composite (type, status, reason, message). */
export interface FunctionCondition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
}

export function clusterHealth(
  t: Topology,
  observed: ObservedResources,
  desiredPerCluster: Map<string, number>,
  bootstrapServers: Map<string, string>,
  externalBootstrap = new Map<string, string>(),
): ClusterHealth[] {
  const grouped = byCluster(observed);
  return t.clusters.map((c) => {
    const mrs = grouped.get(c.name) ?? [];
    const unreachable = mrs.find((m) => condition(m, "Synced")?.reason === unreachableReason);
    const notSynced = mrs.filter((m) => !isSynced(m));
    const notOurs = mrs.filter((m) => condition(m, "Synced")?.reason === unknownManagerReason);
    const desired = desiredPerCluster.get(c.name) ?? 0;
    const seen = { ready: 0, current: 0 };
    for (const m of mrs) {
      if (m.kind !== "RemoteStrimziPodSet") continue;
      const ap = m.status?.atProvider as { readyPods?: number; currentPods?: number } | undefined;
      seen.ready += ap?.readyPods ?? 0;
      seen.current += ap?.currentPods ?? 0;
    }
    const total = c.nodes.length;
    // What the provider last saw of an unreachable cluster is history, not
    // state: its pods are reported as last seen and never counted as ready.
    const since = unreachable ? unreachableSince(mrs) : undefined;
    const pods: NonNullable<ClusterStatus["pods"]> = unreachable
      ? { total, lastSeen: seen }
      : { total, ...seen };
    const synced = mrs.length >= desired && notSynced.length === 0;
    const allReady = !unreachable && synced && mrs.every(isReady) && seen.ready >= total;
    let message: string | undefined;
    if (unreachable) {
      message =
        `cluster ${c.name} is unreachable${since ? ` since ${since}` : ""}; its pods as last seen: ${seen.ready}/${total} ready; ${condition(unreachable, "Synced")?.message ?? ""}`.trim();
    } else if (notOurs.length > 0) {
      message = `${notOurs.length} object(s) run under managed resources this central cluster does not have, e.g. ${condition(notOurs[0] ?? {}, "Synced")?.message ?? ""}`;
    } else if (mrs.length < desired) {
      message = `${desired - mrs.length} of ${desired} objects not created yet`;
    } else if (notSynced.length > 0) {
      const first = notSynced[0];
      message = `${notSynced.length} object(s) not synced, e.g. ${first?.metadata?.name ?? "?"}: ${condition(first ?? {}, "Synced")?.message ?? "pending"}`;
    } else if (seen.ready < total) {
      message = `${seen.ready} of ${total} pods ready`;
    }
    const bootstrap = bootstrapServers.get(c.name);
    const outside = externalBootstrap.get(c.name);
    return {
      name: c.name,
      reachable: !unreachable,
      synced,
      ready: allReady,
      ...(since ? { unreachableSince: since } : {}),
      pods,
      controllers: c.nodes.filter((n) => n.isController).length,
      brokers: c.nodes.filter((n) => n.isBroker).length,
      ...(bootstrap ? { bootstrapServers: bootstrap } : {}),
      ...(outside ? { externalBootstrapServers: outside } : {}),
      ...(message ? { message } : {}),
      ...(notOurs.length > 0 ? { notOurs: notOurs.length } : {}),
    };
  });
}

/** Degraded and QuorumAtRisk, each with a message a person can act on. */
export function conditions(
  t: Topology,
  health: ClusterHealth[],
  pending: string[],
  live?: KafkaLive,
  evacuate: string[] = [],
  draining: Leaving[] = [],
): FunctionCondition[] {
  const notReady = health.filter((h) => !h.ready);
  const unreachable = health.filter((h) => !h.reachable);
  const out: FunctionCondition[] = [];
  const down = new Set(unreachable.map((h) => h.name));
  const notOurs = health.filter((h) => h.notOurs);
  if (notOurs.length > 0) {
    out.push({
      type: "Degraded",
      status: "True",
      reason: "NotRestored",
      message: `Kafka already runs in cluster ${notOurs.map((h) => h.name).join(", ")} under managed resources this central cluster does not have, so nothing there was changed: if this central cluster replaces a lost one, delete this claim and restore the lost one's backup (stretch-kafka restore; docs/operations.md, "Backing up and restoring the central cluster")`,
    });
  } else if (unreachable.length > 0) {
    const keeps = majorityWithout(t, down);
    out.push({
      type: "Degraded",
      status: "True",
      reason: keeps ? "ClusterUnavailable" : "QuorumLost",
      message:
        `cluster ${unreachable
          .map((h) => (h.unreachableSince ? `${h.name} (since ${h.unreachableSince})` : h.name))
          .join(", ")} unreachable` +
        (keeps
          ? "; the controller majority remains in the other clusters, Kafka keeps serving"
          : "; the controller majority is lost, Kafka cannot accept writes until it returns"),
    });
  } else if (pending.length > 0) {
    out.push({
      type: "Degraded",
      status: "True",
      reason: "AddressesPending",
      message: pending.join("; "),
    });
  } else if (notReady.length > 0) {
    out.push({
      type: "Degraded",
      status: "True",
      reason: "ClusterNotReady",
      // One message while any cluster is not ready: what each one waits for is
      // in status.clusters[].message, which changes with every step of its
      // progress. Under Crossplane each change of a condition the function
      // reports costs three writes of the composite, each a watch event its
      // XR circuit breaker counts (ADR 0026); naming the clusters changed it
      // as each became ready. An unreachable cluster is named (above).
      message: "not every cluster is ready yet; what each one waits for: status.clusters[].message",
    });
  } else {
    out.push({
      type: "Degraded",
      status: "False",
      reason: "AllClustersReady",
      message: "every cluster is ready",
    });
  }
  const risk = quorumRisk(t).message;
  const liveRisk = live?.reachable ? liveQuorumRisk(live) : undefined;
  const lostVoters = draining.filter((n) => n.lost && n.voter);
  out.push(
    lostVoters.length > 0
      ? {
          type: "QuorumAtRisk",
          status: "True",
          reason: "LostClusterVoters",
          message:
            `${lostVoters.map((n) => `controller ${n.id} of cluster ${n.cluster}`).join(", ")}, lost for good, still counted as voter(s): the quorum keeps its majority only while the other voters answer; removed once the others are caught up` +
            (liveRisk ? `; Kafka reports: ${liveRisk}` : "") +
            (risk ? `; then ${risk}` : "") +
            refused(live, ["voters"]),
        }
      : risk
        ? { type: "QuorumAtRisk", status: "True", reason: "SingleClusterFailure", message: risk }
        : liveRisk
          ? {
              type: "QuorumAtRisk",
              status: "True",
              reason: "LiveQuorumAtRisk",
              message: `Kafka reports: ${liveRisk}`,
            }
          : {
              type: "QuorumAtRisk",
              status: "False",
              reason: "SurvivesClusterLoss",
              message:
                "losing any one cluster keeps a controller majority" +
                (live?.reachable
                  ? ", and Kafka reports a caught-up majority without any one cluster"
                  : ""),
            },
  );
  out.push(
    dataAtRisk(
      live,
      draining.filter((n) => n.lost && !n.voter),
    ),
    drainingCondition(draining, live),
    evacuated(evacuate, live),
  );
  return out;
}

const surviveMessage =
  "every partition keeps min.insync.replicas in sync replicas without any one cluster";

/** Evacuated: whether the clusters under maintenance can be taken down now, as Kafka says. */
function evacuated(clusters: string[], live: KafkaLive | undefined): FunctionCondition {
  if (clusters.length === 0) {
    return {
      type: "Evacuated",
      status: "False",
      reason: "NoMaintenance",
      message: "no cluster is marked for maintenance",
    };
  }
  const which = clusters.join(", ");
  const e = live?.reachable ? live.evacuation : undefined;
  if (!e || e.clusters?.join(",") !== [...clusters].sort().join(",")) {
    return {
      type: "Evacuated",
      status: "Unknown",
      reason: live?.reachable === false ? "KafkaUnreachable" : "NotAskedYet",
      message: `cluster ${which} marked for maintenance; ${live?.reachable === false ? (live.message ?? "Kafka cannot be asked") : "Kafka has not been asked since"}`,
    };
  }
  if (e.safe) {
    return {
      type: "Evacuated",
      status: "True",
      reason: "SafeToStop",
      message: `cluster ${which} can be taken down: no partition is led there, every partition keeps min.insync.replicas in-sync replicas elsewhere, and the quorum keeps a caught-up majority without it`,
    };
  }
  const why = [
    ...((e.leadersLeft ?? 0) > 0 ? [`${String(e.leadersLeft)} partition(s) still led there`] : []),
    ...((e.belowMinIsrWithout ?? 0) > 0
      ? [
          `${String(e.belowMinIsrWithout)} partition(s) would fall below min.insync.replicas without it`,
        ]
      : []),
    ...(e.quorumKeepsMajority === false ? ["the quorum would lose its caught-up majority"] : []),
    ...(e.stuck?.length ? [`no in-sync replica elsewhere for ${e.stuck.join(", ")}`] : []),
  ];
  return {
    type: "Evacuated",
    status: "False",
    reason: "MovingLeadership",
    message: `cluster ${which} cannot be taken down yet: ${why.join("; ")}${refused(live, ["leadership"])}`,
  };
}

/** Draining: nodes the claim removes, kept running while their replicas move off or their voter leaves. */
function drainingCondition(draining: Leaving[], live: KafkaLive | undefined): FunctionCondition {
  if (draining.length === 0) {
    return {
      type: "Draining",
      status: "False",
      reason: "NothingLeaving",
      message: "no node is being removed",
    };
  }
  const each = draining
    .map((n) => {
      const where = `${n.cluster}/${n.pool}${n.lost ? ", lost for good" : ""}`;
      return n.voter
        ? `controller ${n.id} (${where}): leaving the quorum's voters`
        : `broker ${n.id} (${where}): ${n.replicas === undefined ? "replicas unknown" : `${n.replicas} replica(s) left${n.lost ? " to re-create elsewhere" : ""}`}`;
    })
    .join("; ");
  const waiting = !live?.reachable || draining.some((n) => !n.voter && n.replicas === undefined);
  const stuck = live?.drain?.stuck ?? [];
  return {
    type: "Draining",
    status: "True",
    reason: waiting
      ? "WaitingForKafka"
      : stuck.length > 0
        ? "CannotMoveReplicas"
        : "MovingReplicas",
    message:
      `${each}; each is removed once Kafka reports it empty (a controller: no longer a voter)` +
      (waiting ? ` (Kafka cannot be asked: ${live?.message ?? "not asked yet"})` : "") +
      (stuck.length > 0 ? `; cannot move: ${stuck.join("; ")}` : "") +
      refused(live, ["drain", "throttles", "voters", "unregister"]),
  };
}

/**
 * DataAtRisk: replicas a cluster given up for good held that are not
 * re-created yet, and topics that would not survive losing one Kubernetes
 * cluster, as Kafka reports them.
 */
function dataAtRisk(live: KafkaLive | undefined, lost: Leaving[] = []): FunctionCondition {
  if (lost.length > 0) {
    const clusters = [...new Set(lost.map((n) => n.cluster))].join(", ");
    const left = lost.map(
      (n) =>
        `broker ${n.id}: ${n.replicas === undefined ? "replicas unknown" : `${n.replicas} replica(s)`}`,
    );
    const stuck = live?.reachable ? (live.drain?.stuck ?? []) : [];
    const others = live?.reachable ? dataAtRisk(live).message : undefined;
    return {
      type: "DataAtRisk",
      status: "True",
      reason: "LostClusterReplicas",
      message:
        `cluster ${clusters} is lost for good; what its brokers held is re-created on the remaining brokers from the in-sync replicas (${left.join(", ")} left)` +
        (live?.reachable ? "" : `; Kafka cannot be asked: ${live?.message ?? "not asked yet"}`) +
        (stuck.length > 0 ? `; cannot be re-created yet: ${stuck.join("; ")}` : "") +
        refused(live, ["drain"]) +
        (others && others !== surviveMessage ? `; ${others}` : ""),
    };
  }
  if (!live) {
    return {
      type: "DataAtRisk",
      status: "Unknown",
      reason: "NotAskedYet",
      message: "the provider has not asked Kafka yet",
    };
  }
  if (!live.reachable) {
    return {
      type: "DataAtRisk",
      status: "Unknown",
      reason: "KafkaUnreachable",
      message: live.message ?? "",
    };
  }
  const risks = live.dataAtRisk ?? [];
  if (risks.length === 0) {
    return {
      type: "DataAtRisk",
      status: "False",
      reason: "SurvivesClusterLoss",
      message: surviveMessage,
    };
  }
  const byTopic = new Map<string, string[]>();
  for (const r of risks)
    byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), `losing ${r.cluster}: ${r.reason}`]);
  const shown = [...byTopic].slice(0, 5).map(([topic, why]) => `${topic} (${why.join("; ")})`);
  const total = live.dataAtRiskTopics ?? byTopic.size;
  return {
    type: "DataAtRisk",
    status: "True",
    reason: "TopicsNotSpreadAcrossClusters",
    message:
      `${total} topic(s) would not survive losing one cluster: ${shown.join(", ")}` +
      (total > shown.length ? `, and ${total - shown.length} more` : "") +
      "; give them replication.factor of at least min.insync.replicas+1 spread over the clusters (reassign their partitions)",
  };
}
