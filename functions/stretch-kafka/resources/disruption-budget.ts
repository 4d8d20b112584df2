/**
 * The PodDisruptionBudget of a Kubernetes cluster's Kafka pods (ADR 0023): no
 * eviction of a Kafka pod is allowed unless the provider released that pod
 * (the label `stretchkafka.dev/eviction: allowed`), which it does one pod at
 * a time across every cluster, when Kafka's rules for a restart allow it. A
 * budget in one cluster cannot see the others' pods; this one only hands the
 * decision to the provider, which can.
 *
 * `minAvailable` is the number of the cluster's Kafka pods, as Strimzi
 * renders its budgets for pods a StrimziPodSet owns: the disruption
 * controller can count the pods a `maxUnavailable` or a percentage is taken
 * of only through their controller's scale subresource, which a podset does
 * not have.
 */
import { labels } from "../names.ts";
import { remoteMeta, type RemoteObject } from "./remote-object.ts";

export function kafkaDisruptionBudget(o: {
  cluster: string;
  kafkaName: string;
  namespace: string;
  /** The Kafka pods the claim runs in this cluster. */
  pods: number;
}): RemoteObject {
  return {
    cluster: o.cluster,
    kind: "RemotePodDisruptionBudget",
    ownedByAnchor: true,
    manifest: {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: remoteMeta(o, `${o.kafkaName}-kafka`),
      spec: {
        minAvailable: o.pods,
        selector: {
          matchLabels: { [labels.cluster]: o.kafkaName, [labels.kind]: "Kafka" },
          matchExpressions: [{ key: labels.eviction, operator: "DoesNotExist" }],
        },
      },
    },
  };
}
