/** Listener names and ports, Strimzi's conventions for KRaft. */
export const listeners = {
  controlplane: { name: "CONTROLPLANE-9090", port: 9090, portName: "tcp-ctrlplane" },
  replication: { name: "REPLICATION-9091", port: 9091, portName: "tcp-replication" },
  plain: { name: "PLAIN-9092", port: 9092, portName: "tcp-clients" },
  tls: { name: "TLS-9093", port: 9093, portName: "tcp-clientstls" },
} as const;

export type ListenerKey = keyof typeof listeners;
export const listenerKeys: ListenerKey[] = ["controlplane", "replication", "plain", "tls"];
