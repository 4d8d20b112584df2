/**
 * A dynamic quorum's next voter change toward the voters the claim wants
 * (`kafkaAdmin.voters`), one per round since Kafka allows one at a time:
 * first a wanted controller that has caught up as an observer is added, else
 * a voter no longer wanted is removed, but only while every other voter is
 * caught up (the quorum keeps its majority). An empty wish never empties the
 * quorum. The safety rules are controller/kafka/health.ts. Pure; the supervisor tells Kafka (AddRaftVoter, RemoveRaftVoter).
 */
import type { KafkaAdmin } from "../../apis/index.ts";
import type { KafkaView, QuorumReplica } from "./admin.ts";
import { caughtUp, voterRemovalBlocker } from "./health.ts";

export type VoterChange =
  | { add: QuorumReplica; listener: NonNullable<KafkaAdmin["voters"]>[number]["listener"] }
  | { remove: QuorumReplica };

export function nextVoterChange(
  view: KafkaView,
  want: KafkaAdmin["voters"],
  now: number,
): VoterChange | undefined {
  if (!want || want.length === 0) return undefined;
  const voters = view.quorum.voters;
  for (const w of want) {
    if (voters.some((v) => v.id === w.id)) continue;
    const observer = view.quorum.observers.find((o) => o.id === w.id && caughtUp(o, now));
    if (observer) return { add: observer, listener: w.listener };
  }
  const remove = voters.find((v) => !want.some((w) => w.id === v.id));
  if (!remove || voterRemovalBlocker(view.quorum, remove.id, now)) return undefined;
  return { remove };
}
