/**
 * Kafka's rules that the claim's contract states, written once for the
 * function and the provider: what a majority of voters is, the replication a
 * claim's topics get, and whether a replication survives losing one
 * Kubernetes cluster. The rules on Kafka's live answers (caught up, effective
 * min.insync.replicas, may this node restart) are controller/kafka/health.ts,
 * built on these.
 */

/** How many of `voters` make a majority (a KRaft quorum needs one to elect a leader). */
export function majority(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

export interface Replication {
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
export function replicationDefaults(brokers: readonly { cluster: string }[]): Replication {
  const brokerClusters = new Set(brokers.map((n) => n.cluster)).size;
  if (brokerClusters >= 3) return { replicationFactor: 3, minInSyncReplicas: 2 };
  if (brokerClusters === 2) return { replicationFactor: 2, minInSyncReplicas: 2 };
  const rf = Math.max(1, Math.min(3, brokers.length));
  return { replicationFactor: rf, minInSyncReplicas: Math.max(1, Math.min(2, rf - 1)) };
}

/** A positive integer setting as the claim wrote it (a number or a string); NaN when it is not one. */
export function configInteger(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === "number" ? value : typeof value === "string" ? Number(value) : NaN;
  return Number.isInteger(n) && n > 0 ? n : NaN;
}

/**
 * The replication the brokers run with: the claim's
 * `spec.kafka.config["default.replication.factor"]` and
 * `["min.insync.replicas"]` where it sets them, else the defaults for its
 * brokers. A value that is not a positive integer is NaN (the function
 * refuses such a claim).
 */
export function claimReplication(
  config: Readonly<Record<string, unknown>> | undefined,
  brokers: readonly { cluster: string }[],
): Replication {
  const defaults = replicationDefaults(brokers);
  return {
    replicationFactor:
      configInteger(config?.["default.replication.factor"]) ?? defaults.replicationFactor,
    minInSyncReplicas: configInteger(config?.["min.insync.replicas"]) ?? defaults.minInSyncReplicas,
  };
}

/** Whether acks=all writes survive losing any single cluster, for a given RF / min ISR. */
export function survivesClusterLoss(
  brokers: readonly { cluster: string }[],
  rf: number,
  minIsr: number,
): boolean {
  const brokerClusters = new Set(brokers.map((n) => n.cluster)).size;
  if (brokerClusters < 2) return false;
  const maxInOneCluster = Math.ceil(rf / brokerClusters);
  return minIsr > maxInOneCluster;
}
