/** Kafka's answers as the admin channel parses them, built for the pure tests of controller/kafka/. */
import type { KafkaView } from "../../controller/kafka/admin.ts";

/** The clock the fixtures are relative to. */
export const now = 1_700_000_000_000;

/** A quorum member that last caught up (and fetched) `agoMs` before `now`. */
export function quorumReplica(
  id: number,
  agoMs = 100,
  end = 10n,
): KafkaView["quorum"]["voters"][number] {
  return {
    id,
    directoryId: `dir-${id}`,
    logEndOffset: end,
    lastFetchTimestamp: BigInt(now - agoMs),
    lastCaughtUpTimestamp: BigInt(now - agoMs),
  };
}
