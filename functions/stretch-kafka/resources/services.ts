/**
 * The Services every cluster has whatever the networking provider: the
 * headless service that gives each pod its DNS name (publishing not-ready
 * addresses, which the KRaft quorum needs to form) and the bootstrap service
 * for clients in that cluster.
 */
import { bootstrapService, headlessService, labels } from "../names.ts";
import { servicePorts } from "../networking/common.ts";
import { remoteMeta, type RemoteObject } from "./remote-object.ts";

function kafkaSelector(kafka: string): Record<string, string> {
  return { [labels.cluster]: kafka, [labels.name]: `${kafka}-kafka`, [labels.kind]: "Kafka" };
}

/** The pods of a Kafka cluster's brokers (in one Kubernetes cluster). */
export function brokerSelector(kafka: string): Record<string, string> {
  return { ...kafkaSelector(kafka), [labels.brokerRole]: "true" };
}

export function clusterServices(o: {
  cluster: string;
  kafkaName: string;
  namespace: string;
}): RemoteObject[] {
  const selector = kafkaSelector(o.kafkaName);
  const meta = (name: string): RemoteObject["manifest"]["metadata"] => remoteMeta(o, name);
  return [
    {
      cluster: o.cluster,
      kind: "RemoteService",
      ownedByAnchor: true,
      manifest: {
        apiVersion: "v1",
        kind: "Service",
        metadata: meta(headlessService(o.kafkaName)),
        spec: {
          clusterIP: "None",
          publishNotReadyAddresses: true,
          selector,
          ports: [
            ...servicePorts(),
            {
              name: "tcp-kafkaagent",
              port: 8443,
              targetPort: 8443,
              protocol: "TCP",
              appProtocol: "tcp",
            },
          ],
        },
      },
    },
    {
      cluster: o.cluster,
      kind: "RemoteService",
      ownedByAnchor: true,
      manifest: {
        apiVersion: "v1",
        kind: "Service",
        metadata: meta(bootstrapService(o.kafkaName)),
        spec: {
          type: "ClusterIP",
          selector: brokerSelector(o.kafkaName),
          ports: servicePorts(["replication", "plain", "tls"]),
        },
      },
    },
  ];
}
