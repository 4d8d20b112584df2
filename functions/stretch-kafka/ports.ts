/** Listener names and ports, Strimzi's conventions for KRaft. */
export const listeners = {
  controlplane: { name: "CONTROLPLANE-9090", port: 9090, portName: "tcp-ctrlplane" },
  replication: { name: "REPLICATION-9091", port: 9091, portName: "tcp-replication" },
  plain: { name: "PLAIN-9092", port: 9092, portName: "tcp-clients" },
  tls: { name: "TLS-9093", port: 9093, portName: "tcp-clientstls" },
} as const;

export type ListenerKey = keyof typeof listeners;
export const listenerKeys: ListenerKey[] = ["controlplane", "replication", "plain", "tls"];

/**
 * The listener for clients outside Kubernetes (spec.kafka.listeners.external),
 * brokers only; Strimzi's name for a listener "external" on port 9094.
 */
export const externalListener = {
  name: "EXTERNAL-9094",
  port: 9094,
  portName: "tcp-external",
} as const;
