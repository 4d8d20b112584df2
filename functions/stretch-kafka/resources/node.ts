/** Per-node objects: the ConfigMap the Strimzi image reads its configuration from, and the PVCs. */
import { volumeAnnotations } from "../../../apis/index.ts";
import { labels } from "../names.ts";
import { poolLabels } from "../pod-template.ts";
import type { NodeVolume } from "../storage.ts";
import type { KafkaNode } from "../topology.ts";
import type { RemoteObject } from "./remote-object.ts";

export const defaultLogging = `name = KafkaConfig
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %p %m (%c) [%t]%n
rootLogger.level = INFO
rootLogger.appenderRefs = console
rootLogger.appenderRef.console.ref = STDOUT
rootLogger.additivity = false
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.orgapachekafka.name = org.apache.kafka
logger.orgapachekafka.level = INFO
logger.requestlogger.name = kafka.request.logger
logger.requestlogger.level = WARN
`;

export function nodeConfigMap(o: {
  cluster: string;
  kafkaName: string;
  namespace: string;
  node: KafkaNode;
  data: Record<string, string>;
}): RemoteObject {
  return {
    cluster: o.cluster,
    kind: "RemoteConfigMap",
    ownedByAnchor: true,
    manifest: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: o.node.podName,
        namespace: o.namespace,
        labels: { ...poolLabels(o.kafkaName, o.node.pool), [labels.podName]: o.node.podName },
      },
      data: o.data,
    },
  };
}

/**
 * PVCs of a node. Kept (not owned by the anchor, deletion policy Orphan) unless
 * the claim says deleteClaim: deleting a StretchKafka must not destroy data by default.
 */
export function nodeClaims(o: {
  cluster: string;
  kafkaName: string;
  namespace: string;
  clusterId: string;
  node: KafkaNode;
  volumes: NodeVolume[];
}): RemoteObject[] {
  return o.volumes
    .filter((v): v is NodeVolume & { claimName: string } => v.claimName !== undefined)
    .map((v) => ({
      cluster: o.cluster,
      kind: "RemotePersistentVolumeClaim",
      ownedByAnchor: v.deleteClaim,
      manifest: {
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: {
          name: v.claimName,
          namespace: o.namespace,
          labels: poolLabels(o.kafkaName, o.node.pool),
          annotations: {
            "strimzi.io/delete-claim": String(v.deleteClaim),
            [volumeAnnotations.clusterId]: o.clusterId,
            [volumeAnnotations.nodeId]: String(o.node.id),
          },
        },
        spec: {
          accessModes: ["ReadWriteOnce"],
          resources: { requests: { storage: v.size ?? "10Gi" } },
          ...(v.storageClass ? { storageClassName: v.storageClass } : {}),
        },
      },
    }));
}
