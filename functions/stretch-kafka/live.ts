/**
 * What the composite's conditions make of Kafka's own view (status.kafka.live,
 * which the provider asks Kafka for and reports on the RemoteKafka managed
 * resources).
 */
import type { KafkaLive } from "../../apis/index.ts";
import { majority } from "../../apis/kafka-rules.ts";
import { isSynced, type ObservedResources } from "./observed.ts";

type Operation = NonNullable<KafkaLive["operationErrors"]>[number]["operation"];

/** What Kafka refused of these operations in the provider's last round, as a clause of a condition's message. */
export function refused(live: KafkaLive | undefined, operations: readonly Operation[]): string {
  const errors = (live?.operationErrors ?? []).filter((e) => operations.includes(e.operation));
  return errors.map((e) => `; Kafka refused (${e.operation}): ${e.message}`).join("");
}

/**
 * The live view the provider last wrote on the RemoteKafka resources. It
 * writes the same view on each, but only while it can reach their cluster's
 * API server, so the view of a cluster that is down is stale: those of
 * synced resources come first.
 */
export function observedLive(observed: ObservedResources): KafkaLive | undefined {
  let stale: KafkaLive | undefined;
  for (const mr of Object.values(observed)) {
    if (mr?.kind !== "RemoteKafka") continue;
    const live = (mr.status?.atProvider as { kafka?: KafkaLive } | undefined)?.kafka;
    if (!live) continue;
    if (isSynced(mr)) return live;
    stale ??= live;
  }
  return stale;
}

/**
 * Why the live quorum would not survive losing one Kubernetes cluster, or
 * undefined: a majority of the voters must remain and be caught up (a lagging
 * voter cannot be counted on to take over).
 */
export function liveQuorumRisk(live: KafkaLive): string | undefined {
  const voters = live.quorum?.voters ?? [];
  if (voters.length === 0) return undefined;
  const needed = majority(voters.length);
  const clusters = [...new Set(voters.map((v) => v.cluster ?? "?"))];
  const behind = voters.filter((v) => !v.caughtUp);
  for (const c of clusters) {
    const healthyElsewhere = voters.filter((v) => v.caughtUp && v.cluster !== c).length;
    if (healthyElsewhere < needed) {
      return (
        `losing ${c} would leave ${healthyElsewhere} caught-up voter(s) of ${voters.length}, fewer than the ${needed} a majority needs` +
        (behind.length > 0
          ? ` (behind: ${behind.map((v) => `${v.id} in ${v.cluster ?? "?"}`).join(", ")})`
          : "")
      );
    }
  }
  return undefined;
}
