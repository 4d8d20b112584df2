/**
 * The KRaft quorum and what the topology can survive. A stretch cluster must
 * keep a controller majority and an in-sync replica set after losing any one
 * Kubernetes cluster.
 */
import type { Topology } from "./topology.ts";

export interface QuorumRisk {
  /** A person-actionable explanation, or undefined when any single cluster can be lost. */
  message: string | undefined;
}

/** Controllers per cluster, in topology order. */
export function controllersPerCluster(t: Topology): { cluster: string; controllers: number }[] {
  return t.clusters.map((c) => ({
    cluster: c.name,
    controllers: c.nodes.filter((n) => n.isController).length,
  }));
}

/** Why losing some single cluster would lose the controller majority, if it would. */
export function quorumRisk(t: Topology): QuorumRisk {
  const total = t.controllers.length;
  const majority = Math.floor(total / 2) + 1;
  const perCluster = controllersPerCluster(t);
  const withControllers = perCluster.filter((c) => c.controllers > 0);
  if (withControllers.length < 3) {
    return {
      message: `controllers run in ${withControllers.length} cluster(s) (${withControllers.map((c) => c.cluster).join(", ") || "none"}); a stretch cluster needs controllers in at least 3 clusters to survive losing one`,
    };
  }
  const fatal = perCluster.filter((c) => total - c.controllers < majority);
  if (fatal.length > 0) {
    return {
      message: `losing cluster ${fatal.map((c) => `${c.cluster} (${c.controllers} of ${total} controllers)`).join(" or ")} would lose the controller majority (${majority} of ${total}); spread controllers so that no cluster holds half or more`,
    };
  }
  return { message: undefined };
}

/** Whether the controllers of the clusters still up form a majority. */
export function majorityWithout(t: Topology, down: Set<string>): boolean {
  const total = t.controllers.length;
  const up = t.controllers.filter((n) => !down.has(n.cluster)).length;
  return total > 0 && up >= Math.floor(total / 2) + 1;
}

export interface ReplicationDefaults {
  replicationFactor: number;
  minInSyncReplicas: number;
}

/**
 * Replication that loses no acknowledged write when one cluster is lost: with
 * rack-aware placement (one rack per cluster) a partition has at most
 * ceil(RF / clusters) replicas in one cluster, so min.insync.replicas must
 * exceed that. Three or more clusters with brokers: RF 3, min ISR 2 (writes go
 * on after losing one). Two: RF 2, min ISR 2 (no loss, but writes stop until the
 * cluster returns).
 */
export function replicationDefaults(t: { brokers: { cluster: string }[] }): ReplicationDefaults {
  const brokerClusters = new Set(t.brokers.map((n) => n.cluster)).size;
  const brokers = t.brokers.length;
  if (brokerClusters >= 3) return { replicationFactor: 3, minInSyncReplicas: 2 };
  if (brokerClusters === 2) return { replicationFactor: 2, minInSyncReplicas: 2 };
  const rf = Math.max(1, Math.min(3, brokers));
  return { replicationFactor: rf, minInSyncReplicas: Math.max(1, Math.min(2, rf - 1)) };
}

/** Whether acks=all writes survive losing any single cluster, for a given RF / min ISR. */
export function survivesClusterLoss(
  t: { brokers: { cluster: string }[] },
  rf: number,
  minIsr: number,
): boolean {
  const brokerClusters = new Set(t.brokers.map((n) => n.cluster)).size;
  if (brokerClusters < 2) return false;
  const maxInOneCluster = Math.ceil(rf / brokerClusters);
  return minIsr > maxInOneCluster;
}
