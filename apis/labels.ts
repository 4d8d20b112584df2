/**
 * Labels, annotations and object names both sides of the contract write and
 * read: the function on what it composes, the provider, the engine and the
 * CLI on what they find (Strimzi's and Crossplane's conventions included).
 */
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
  /** On every managed resource and remote object: the composite (Kafka cluster) it belongs to. */
  composite: "stretchkafka.dev/composite",
  /** On every managed resource: the Kubernetes cluster (the claim's cluster name) its object lives in. */
  stretchCluster: "stretchkafka.dev/cluster",
  /** On a ProviderConfigUsage: the ProviderConfig used. */
  providerConfig: "stretchkafka.dev/provider-config",
  /** On a CA Secret in the central cluster: the authority (composite) it belongs to. */
  authority: "stretchkafka.dev/authority",
  /** On a KafkaUser's Secret: the user, and the claim its Kafka is. */
  kafkaUser: "stretchkafka.dev/kafka-user",
  kafka: "stretchkafka.dev/kafka",
  /**
   * On a connection Secret the standalone engine writes ("claim" or
   * "composite"): what its metadata-only watch selects, so that one deleted
   * or edited by hand is written again at once.
   */
  connectionSecret: "stretchkafka.dev/connection-secret",
  /**
   * On a Kafka pod the provider released for one eviction (a node drain, ADR
   * 0023): the cluster's PodDisruptionBudget no longer covers it. A pod created
   * again comes without it.
   */
  eviction: "stretchkafka.dev/eviction",
  /** Crossplane's, on composed resources. */
  crossplaneComposite: "crossplane.io/composite",
  claimName: "crossplane.io/claim-name",
  claimNamespace: "crossplane.io/claim-namespace",
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
  /** Crossplane's: the resource's name in the composition. */
  compositionResourceName: "crossplane.io/composition-resource-name",
  /** Crossplane's: the provider leaves a paused managed resource alone. */
  paused: "crossplane.io/paused",
} as const;

export const finalizers = {
  /**
   * Crossplane's managed-resource finalizer, held by the provider until the
   * remote object is deleted (or released). The function composes it, so that
   * a new managed resource is created with it: one watch event fewer for each,
   * each of which Crossplane's XR circuit breaker counts (ADR 0017).
   */
  managed: "finalizer.managedresource.crossplane.io",
} as const;

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
