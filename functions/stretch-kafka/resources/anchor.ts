/**
 * The per-cluster anchor: a ConfigMap every other remote object of this Kafka
 * cluster is owned by (controller: false). Deleting it lets that cluster's own
 * garbage collector remove the rest; nothing else ever deletes remotely.
 * Labelled, so that the admission policy `register-cluster` installs can
 * refuse anyone else's delete.
 */
import { anchorLabel } from "../../../apis/index.ts";
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
      metadata: remoteMeta(o, anchorName(o.kafkaName), { labels: { [anchorLabel]: "true" } }),
      data: {
        purpose:
          "Owner of every object stretch-kafka created for this Kafka cluster in this Kubernetes cluster. Deleting it deletes them all; only the provider may (see stretch-kafka's docs/operations.md).",
        composite: o.composite,
        cluster: o.cluster,
      },
    },
  };
}
