/**
 * Kafka's safety rules on its own answers, stated once, as Strimzi's
 * KafkaRoller and KafkaAvailability state them for its operator: whether a
 * quorum member is caught up, whether the quorum keeps a caught-up majority
 * without some voters, a topic's effective min.insync.replicas, which
 * partitions would fall below it without some brokers, and from these whether
 * a node may restart now and whether brokers and controllers may be taken
 * down. The live status, the rolling restart, the maintenance evacuation and
 * the voter changes all ask here. Pure.
 *
 * Unknown means no: a topic whose min.insync.replicas Kafka did not tell is
 * unsafe to disturb (its partitions count as below it), never taken as 1.
 * The claim-level rules (majority size, replication defaults) are
 * apis/kafka-rules.ts.
 */
import { majority } from "../../apis/kafka-rules.ts";
import type { KafkaView, QuorumReplica } from "./admin.ts";

export type Topic = KafkaView["topics"][number];

/** A voter or observer that has not caught up with the leader for this long is behind. */
export const caughtUpWithinMs = 10_000;

/** Whether a quorum member caught up with the leader's log within `caughtUpWithinMs` of `now`. */
export function caughtUp(r: QuorumReplica, now: number): boolean {
  return r.lastCaughtUpTimestamp > 0n && now - Number(r.lastCaughtUpTimestamp) <= caughtUpWithinMs;
}

export interface QuorumWithout {
  /** Caught-up voters other than those left out. */
  left: number;
  /** A majority of all voters. */
  needed: number;
  keeps: boolean;
}

/** Whether the voters other than `away` are a caught-up majority of all voters. */
export function quorumWithout(
  quorum: KafkaView["quorum"],
  away: ReadonlySet<number>,
  now: number,
): QuorumWithout {
  const left = quorum.voters.filter((v) => !away.has(v.id) && caughtUp(v, now)).length;
  const needed = majority(quorum.voters.length);
  return { left, needed, keeps: quorum.voters.length > 0 && left >= needed };
}

/** Voters that are not caught up with the leader. */
export function laggingVoters(quorum: KafkaView["quorum"], now: number): number[] {
  return quorum.voters.filter((v) => !caughtUp(v, now)).map((v) => v.id);
}

/**
 * The min.insync.replicas Kafka enforces for a topic, or undefined when it is
 * unknown (Kafka's DescribeConfigs failed for it). A value set on the topic
 * is the topic's; an inherited one is the claim's (what every broker is
 * configured with, `claimMinIsr`) or the value Kafka reported, whichever is
 * higher, since brokers being rolled onto a new value may answer with either.
 */
export function effectiveMinIsr(topic: Topic, claimMinIsr: number | undefined): number | undefined {
  const m = topic.minIsr;
  if (!m) return undefined;
  if (m.override) return m.value;
  return Math.max(m.value, claimMinIsr ?? 0);
}

export interface IsrWithout {
  /** Partitions (`topic-partition`) left with fewer in-sync replicas than their min.insync.replicas. */
  below: string[];
  /** Partitions of topics whose min.insync.replicas is unknown: unsafe, as if below. */
  unknown: string[];
  /** Of `below`, those whose replication factor is not above min.insync.replicas: below whatever is done. */
  belowByDesign: string[];
}

/**
 * Which partitions would have fewer in-sync replicas than their effective
 * min.insync.replicas if the brokers `away` stopped now; only partitions
 * with a replica on them are looked at.
 */
export function isrWithout(
  view: KafkaView,
  away: ReadonlySet<number>,
  claimMinIsr: number | undefined,
): IsrWithout {
  const out: IsrWithout = { below: [], unknown: [], belowByDesign: [] };
  for (const t of view.topics) {
    const minIsr = effectiveMinIsr(t, claimMinIsr);
    for (const p of t.partitions) {
      if (!p.replicas.some((r) => away.has(r))) continue;
      const name = `${t.name}-${p.id}`;
      if (minIsr === undefined) {
        out.unknown.push(name);
        continue;
      }
      if (p.isr.filter((r) => !away.has(r)).length >= minIsr) continue;
      out.below.push(name);
      if (p.replicas.length <= minIsr) out.belowByDesign.push(name);
    }
  }
  return out;
}

/** Partitions with a replica out of their ISR. */
export function outOfSync(view: KafkaView): string[] {
  return view.topics.flatMap((t) =>
    t.partitions.filter((p) => p.isr.length < p.replicas.length).map((p) => `${t.name}-${p.id}`),
  );
}

export const listed = (names: readonly string[], max = 5): string =>
  names.slice(0, max).join(", ") + (names.length > max ? ` and ${names.length - max} more` : "");

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

/**
 * Whether Kafka can take `node`'s restart now, as Strimzi's KafkaRoller asks
 * before rolling a pod. A restart waits while
 * - a broker the claim runs (`brokers`) is not registered and unfenced (one
 *   restarted before has not rejoined yet);
 * - a partition on this broker has an unknown min.insync.replicas, or would
 *   fall below it without the broker (said first, as the most telling
 *   reason). With every ISR full that happens only where the replication
 *   factor is not above min.insync.replicas: such partitions would block
 *   every roll forever, so they are not waited for (Strimzi's KafkaRoller
 *   does the same) but named, since acks=all writes to them pause while the
 *   broker restarts;
 * - any partition has a replica out of its ISR (the last restarted broker is
 *   not back in every ISR it belongs to, or something else is behind);
 * - the quorum has no leader, a voter is not caught up, or a controller's
 *   restart would leave fewer caught-up voters than a majority.
 */
export function restartVerdict(
  view: KafkaView,
  at: number,
  node: RestartCandidate,
  brokers: readonly number[],
  claimMinIsr: number | undefined,
): RestartVerdict {
  const wait = (blocker: string): RestartVerdict => ({ blocker, pauses: [] });
  const up = new Set(view.brokers.filter((b) => !b.fenced).map((b) => b.id));
  const missing = brokers.filter((id) => !up.has(id));
  if (missing.length > 0)
    return wait(`broker(s) ${missing.join(", ")} not registered and unfenced in Kafka yet`);
  // The most telling reason first: this broker's restart would take
  // partitions below min ISR (a replica elsewhere is out of sync).
  let pauses: string[] = [];
  if (node.broker) {
    const isr = isrWithout(view, new Set([node.nodeId]), claimMinIsr);
    if (isr.unknown.length > 0)
      return wait(
        `min.insync.replicas of ${isr.unknown.length} partition(s) on broker ${node.nodeId} is unknown (${listed(isr.unknown)}): Kafka did not answer DescribeConfigs for their topics`,
      );
    const avoidable = isr.below.filter((p) => !isr.belowByDesign.includes(p));
    if (avoidable.length > 0)
      return wait(
        `restarting broker ${node.nodeId} would leave ${avoidable.length} partition(s) below min.insync.replicas (${listed(avoidable)})`,
      );
    pauses = isr.belowByDesign;
  }
  const behind = outOfSync(view);
  if (behind.length > 0)
    return wait(
      `${behind.length} partition(s) have replicas out of sync (${listed(behind)}); waiting for every ISR to be full`,
    );
  const q = view.quorum;
  if (q.leaderId < 0) return wait("the KRaft quorum has no leader");
  const lagging = laggingVoters(q, at);
  if (lagging.length > 0)
    return wait(`voter(s) ${lagging.join(", ")} not caught up with the leader`);
  if (node.controller) {
    const without = quorumWithout(q, new Set([node.nodeId]), at);
    if (!without.keeps)
      return wait(
        `restarting controller ${node.nodeId} would leave ${without.left} caught-up voter(s) of ${q.voters.length}, below a majority`,
      );
  }
  return { blocker: undefined, pauses };
}

export interface TakedownState {
  /** Partitions still led by the brokers going down. */
  leadersLeft: number;
  /** Partitions with fewer than min.insync.replicas in-sync replicas elsewhere (unknown ones included). */
  belowMinIsrWithout: number;
  /** Whether the caught-up voters elsewhere are a majority. */
  quorumKeepsMajority: boolean;
  safe: boolean;
}

/** Whether brokers and controllers (a cluster under maintenance) can be taken down now. */
export function takedownState(
  view: KafkaView,
  awayBrokers: ReadonlySet<number>,
  awayControllers: ReadonlySet<number>,
  now: number,
  claimMinIsr: number | undefined,
): TakedownState {
  let leadersLeft = 0;
  for (const t of view.topics)
    for (const p of t.partitions) if (awayBrokers.has(p.leader)) leadersLeft++;
  const isr = isrWithout(view, awayBrokers, claimMinIsr);
  const belowMinIsrWithout = isr.below.length + isr.unknown.length;
  const quorumKeepsMajority = quorumWithout(view.quorum, awayControllers, now).keeps;
  return {
    leadersLeft,
    belowMinIsrWithout,
    quorumKeepsMajority,
    safe: leadersLeft === 0 && belowMinIsrWithout === 0 && quorumKeepsMajority,
  };
}

/**
 * Why a voter cannot be removed now, or undefined: another voter must remain
 * and every other voter be caught up, so the quorum keeps its majority while
 * Kafka applies the change.
 */
export function voterRemovalBlocker(
  quorum: KafkaView["quorum"],
  id: number,
  now: number,
): string | undefined {
  const others = quorum.voters.filter((v) => v.id !== id);
  if (others.length === 0) return `voter ${id} is the last one`;
  const lagging = others.filter((v) => !caughtUp(v, now)).map((v) => v.id);
  return lagging.length > 0
    ? `voter(s) ${lagging.join(", ")} not caught up with the leader`
    : undefined;
}
