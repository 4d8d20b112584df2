/**
 * What stock Strimzi needs: a paused Kafka CR (its StrimziPodSet controller
 * reconciles a podset only if the Kafka CR named by the podset's
 * strimzi.io/cluster label exists; it ignores the pause annotation, while
 * the paused CR keeps Strimzi's own Kafka reconciler, which would delete podsets
 * it did not make, away; docs/adr/0006), and one StrimziPodSet per pool.
 */
import type { KafkaAdmin } from "../../../apis/index.ts";
import { kafkaApiVersion } from "../../../apis/strimzi.ts";
import { annotations } from "../names.ts";
import { poolLabels, podSetSelector } from "../pod-template.ts";
import { remoteMeta, type RemoteObject } from "./remote-object.ts";

export { kafkaApiVersion };

export function pausedKafka(o: {
  cluster: string;
  kafkaName: string;
  namespace: string;
  podSetApiVersion: string;
  kafkaAdmin?: KafkaAdmin;
}): RemoteObject {
  return {
    cluster: o.cluster,
    kind: "RemoteKafka",
    ownedByAnchor: true,
    ...(o.kafkaAdmin ? { kafkaAdmin: o.kafkaAdmin } : {}),
    manifest: {
      apiVersion: kafkaApiVersion(o.podSetApiVersion),
      kind: "Kafka",
      metadata: remoteMeta(o, o.kafkaName, {
        annotations: { [annotations.pauseReconciliation]: "true" },
      }),
      spec: { kafka: { listeners: [{ name: "plain", port: 9092, type: "internal", tls: false }] } },
    },
  };
}

export function podSet(o: {
  cluster: string;
  kafkaName: string;
  namespace: string;
  apiVersion: string;
  name: string;
  pool: string;
  nodeIds: number[];
  pods: Record<string, unknown>[];
}): RemoteObject {
  return {
    cluster: o.cluster,
    kind: "RemoteStrimziPodSet",
    ownedByAnchor: true,
    manifest: {
      apiVersion: o.apiVersion,
      kind: "StrimziPodSet",
      metadata: {
        name: o.name,
        namespace: o.namespace,
        labels: poolLabels(o.kafkaName, o.pool),
        // Lets a run without the composite's status recover the node ids.
        annotations: { [annotations.nodeIds]: o.nodeIds.join(",") },
      },
      spec: { selector: { matchLabels: podSetSelector(o.kafkaName, o.pool) }, pods: o.pods },
    },
  };
}
