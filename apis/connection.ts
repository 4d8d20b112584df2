/**
 * Keys of the connection Secret a StretchKafka publishes: the XRD's
 * connectionSecretKeys. Crossplane copies only these from the composite's
 * connection details into the claim's Secret, and the standalone engine does
 * the same, so a key the function adds reaches app teams only once it is
 * listed here.
 */
export const connectionSecretKeys = [
  "bootstrap.servers",
  "bootstrap.servers.tls",
  "ca.crt",
  "clusters",
  // Clients outside Kubernetes (spec.kafka.listeners.external); each cluster's is in "clusters".
  "external.bootstrap.servers",
  // The producer settings measured for cross-cluster latency (docs/kafka-configuration.md).
  "producer.properties",
];
