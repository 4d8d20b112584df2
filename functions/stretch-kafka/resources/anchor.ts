/**
 * The per-cluster anchor: a ConfigMap every other remote object of this Kafka
 * cluster is owned by (controller: false). Deleting it lets that cluster's own
 * garbage collector remove the rest; nothing else ever deletes remotely.
 */
import { anchorName } from "../names.ts";
import { remoteMeta, type RemoteObject } from "./remote-object.ts";

export function anchor(o: {
  cluster: string;
  kafkaName: string;
  namespace: string;
  composite: string;
}): RemoteObject {
  return {
    cluster: o.cluster,
    kind: "RemoteConfigMap",
    ownedByAnchor: false,
    manifest: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: remoteMeta(o, anchorName(o.kafkaName)),
      data: {
        purpose:
          "Owner of every object stretch-kafka created for this Kafka cluster in this Kubernetes cluster. Deleting it deletes them all.",
        composite: o.composite,
        cluster: o.cluster,
      },
    },
  };
}
