/**
 * Whether Kafka can take a node's restart now, as Strimzi's KafkaRoller asks
 * before rolling a pod: pods being Ready is not enough. Pure; the rolling
 * restart (controller/provider/rolling-restart.ts) asks it with the
 * observer's latest view, taken after every pod last turned Ready.
 *
 * A restart waits while
 * - a broker the claim runs is not registered and unfenced (one restarted
 *   before has not rejoined yet);
 * - any partition has a replica out of its ISR (the last restarted broker is
 *   not back in every ISR it belongs to, or something else is behind). With
 *   every ISR full, one broker's restart leaves each of its partitions
 *   replication factor - 1 in-sync replicas, so none drops below
 *   min.insync.replicas unless the replication factor is not above it: such
 *   partitions would block every roll forever, so they are not waited for
 *   (Strimzi's KafkaRoller does the same) but named, since acks=all writes
 *   to them pause while the broker restarts;
 * - the quorum has no leader, a voter is not caught up, or a controller's
 *   restart would leave fewer caught-up voters than a majority.
 */
import type { KafkaView } from "./admin.ts";
import { caughtUpWithinMs } from "./live.ts";

export interface RestartVerdict {
  /** Why the restart must wait, or undefined. */
  blocker: string | undefined;
  /** Partitions whose acks=all writes pause during this broker's restart (RF not above min ISR). */
  pauses: string[];
}

export interface RestartCandidate {
  nodeId: number;
  broker: boolean;
  controller: boolean;
}

const listed = (names: string[], max = 5): string =>
  names.slice(0, max).join(", ") + (names.length > max ? ` and ${names.length - max} more` : "");

/** Why Kafka cannot take `node`'s restart now, or undefined when it can. */
export function restartBlocker(
  view: KafkaView,
  at: number,
  node: RestartCandidate,
  brokers: number[],
): string | undefined {
  return restartVerdict(view, at, node, brokers).blocker;
}

export function restartVerdict(
  view: KafkaView,
  at: number,
  node: RestartCandidate,
  brokers: number[],
  defaultMinIsr = 1,
): RestartVerdict {
  const verdict = (blocker: string | undefined, pauses: string[] = []): RestartVerdict => ({
    blocker,
    pauses,
  });
  const up = new Set(view.brokers.filter((b) => !b.fenced).map((b) => b.id));
  const missing = brokers.filter((id) => !up.has(id));
  if (missing.length > 0)
    return verdict(`broker(s) ${missing.join(", ")} not registered and unfenced in Kafka yet`);
  const behind: string[] = [];
  const pauses: string[] = [];
  for (const t of view.topics) {
    const minIsr = t.minIsr ?? defaultMinIsr;
    for (const p of t.partitions) {
      if (p.isr.length < p.replicas.length) behind.push(`${t.name}-${p.id}`);
      if (node.broker && p.replicas.includes(node.nodeId) && p.replicas.length <= minIsr)
        pauses.push(`${t.name}-${p.id}`);
    }
  }
  if (behind.length > 0)
    return verdict(
      `${behind.length} partition(s) have replicas out of sync (${listed(behind)}); waiting for every ISR to be full`,
    );
  const q = view.quorum;
  if (q.leaderId < 0) return verdict("the KRaft quorum has no leader");
  const caughtUp = (r: KafkaView["quorum"]["voters"][number]): boolean =>
    r.lastCaughtUpTimestamp > 0n && at - Number(r.lastCaughtUpTimestamp) <= caughtUpWithinMs;
  const lagging = q.voters.filter((v) => !caughtUp(v)).map((v) => String(v.id));
  if (lagging.length > 0)
    return verdict(`voter(s) ${lagging.join(", ")} not caught up with the leader`);
  if (node.controller) {
    const majority = Math.floor(q.voters.length / 2) + 1;
    const left = q.voters.filter((v) => v.id !== node.nodeId && caughtUp(v)).length;
    if (left < majority)
      return verdict(
        `restarting controller ${node.nodeId} would leave ${left} caught-up voter(s) of ${q.voters.length}, below a majority`,
      );
  }
  return verdict(undefined, pauses);
}
