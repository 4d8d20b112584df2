/** Names of remote objects (Strimzi's conventions) and labels on everything we make. */
import { createHash } from "node:crypto";

export const labels = {
  cluster: "strimzi.io/cluster",
  kind: "strimzi.io/kind",
  name: "strimzi.io/name",
  componentType: "strimzi.io/component-type",
  poolName: "strimzi.io/pool-name",
  brokerRole: "strimzi.io/broker-role",
  controllerRole: "strimzi.io/controller-role",
  podName: "strimzi.io/pod-name",
  controller: "strimzi.io/controller",
  controllerName: "strimzi.io/controller-name",
  managedBy: "app.kubernetes.io/managed-by",
  partOf: "app.kubernetes.io/part-of",
  composite: "stretchkafka.dev/composite",
  stretchCluster: "stretchkafka.dev/cluster",
} as const;

export const annotations = {
  revision: "strimzi.io/revision",
  pauseReconciliation: "strimzi.io/pause-reconciliation",
  nodeIds: "stretchkafka.dev/node-ids",
  /**
   * On each RemoteStrimziPodSet: a hash of every pod revision of the whole
   * Kafka cluster. The rolling restart goes on only while all podsets carry
   * the same one, i.e. once every podset of one change has reached the
   * central cluster (they are applied one by one), so its order (brokers,
   * then controllers) holds for the change as a whole.
   */
  rollout: "stretchkafka.dev/rollout",
  /**
   * On a pod: names its certificate must carry before it starts (the external
   * listener's, which change with it). The provider applies the podset only
   * once the node's certificate Secret names them all, so a restarted broker
   * never serves a certificate without its new external names.
   */
  certificateNames: "stretchkafka.dev/certificate-names",
} as const;

export function headlessService(kafka: string): string {
  return `${kafka}-kafka-brokers`;
}

export function bootstrapService(kafka: string): string {
  return `${kafka}-kafka-bootstrap`;
}

export function caCertSecret(kafka: string): string {
  return `${kafka}-cluster-ca-cert`;
}

export function clientsCaCertSecret(kafka: string): string {
  return `${kafka}-clients-ca-cert`;
}

/** ServiceAccount (and Role) the Kafka pods run as, Strimzi's name. */
export function kafkaServiceAccount(kafka: string): string {
  return `${kafka}-kafka`;
}

export function anchorName(kafka: string): string {
  return `${kafka}-stretch-anchor`;
}

/** A 22-character Kafka id (base64url of 16 bytes), derived from a seed. */
export function kafkaUuid(seed: string): string {
  return createHash("sha256").update(seed).digest().subarray(0, 16).toString("base64url");
}

/** A short, stable hash for names and revisions. */
export function shortHash(input: string, length = 8): string {
  return createHash("sha256").update(input).digest("hex").slice(0, length);
}

/**
 * A Kubernetes object name from parts: joined with "-", and if longer than
 * `max`, cut and suffixed with a hash of the whole so it stays unique.
 */
export function objectName(parts: string[], max = 253): string {
  const full = parts.filter(Boolean).join("-").toLowerCase();
  if (full.length <= max) return full;
  const hash = shortHash(full, 10);
  return `${full.slice(0, max - hash.length - 1).replace(/-+$/, "")}-${hash}`;
}
