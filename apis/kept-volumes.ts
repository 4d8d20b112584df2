/**
 * What a data volume says of itself, so that a claim created again can take
 * it up: the function writes these on every PersistentVolumeClaim it
 * composes, and the provider reads them when it keeps a volume of a deleted
 * claim (ProviderConfig status.keptVolumes).
 */
export const volumeAnnotations = {
  /** The Kafka cluster id the volume was formatted with. */
  clusterId: "stretchkafka.dev/cluster-id",
  /** The Kafka node the volume belongs to. */
  nodeId: "stretchkafka.dev/node-id",
} as const;
