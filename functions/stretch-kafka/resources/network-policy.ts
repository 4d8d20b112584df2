/**
 * NetworkPolicy admitting Kafka traffic (where the claim enables it): the
 * control-plane and replication ports from this Kafka cluster's pods and from
 * the peer clusters' address ranges, the agent port from the same, and the
 * client ports from the allowed namespaces (the external listener's from anywhere).
 */
import type { NetworkPoliciesSpec } from "../../../apis/index.ts";
import { labels } from "../names.ts";
import { metricsPort } from "../metrics.ts";
import { externalListener, listeners } from "../ports.ts";
import { stringMap } from "../util.ts";
import { remoteMeta, type RemoteObject } from "./remote-object.ts";

export function kafkaNetworkPolicy(o: {
  cluster: string;
  kafkaName: string;
  namespace: string;
  policy: NetworkPoliciesSpec;
  metrics: boolean;
  /** The external listener's port, open to clients wherever they are. */
  external: boolean;
}): RemoteObject {
  const kafkaPods = {
    podSelector: { matchLabels: { [labels.cluster]: o.kafkaName, [labels.kind]: "Kafka" } },
  };
  const peers = [kafkaPods, ...(o.policy.peerCIDRs ?? []).map((cidr) => ({ ipBlock: { cidr } }))];
  const tcp = (port: number): { protocol: string; port: number } => ({ protocol: "TCP", port });
  const clientSel = o.policy.clientNamespaceSelector?.matchLabels;
  const clients = clientSel
    ? [{ namespaceSelector: { matchLabels: stringMap(clientSel) } }, ...peers]
    : [{ namespaceSelector: {} }, ...peers];
  return {
    cluster: o.cluster,
    kind: "RemoteNetworkPolicy",
    ownedByAnchor: true,
    manifest: {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: remoteMeta(o, `${o.kafkaName}-network-policy-kafka`),
      spec: {
        podSelector: { matchLabels: { [labels.cluster]: o.kafkaName, [labels.kind]: "Kafka" } },
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: peers,
            ports: [tcp(listeners.controlplane.port), tcp(listeners.replication.port), tcp(8443)],
          },
          { from: clients, ports: [tcp(listeners.plain.port), tcp(listeners.tls.port)] },
          // Prometheus, wherever it runs.
          ...(o.metrics ? [{ ports: [tcp(metricsPort.port)] }] : []),
          // Clients outside Kubernetes, through load balancers, node ports or the ingress controller.
          ...(o.external ? [{ ports: [tcp(externalListener.port)] }] : []),
        ],
      },
    },
  };
}
