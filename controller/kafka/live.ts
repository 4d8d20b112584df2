/**
 * Kafka's answers (admin.ts) and the nodes the claim asks for become the live
 * status: who votes and who is caught up, which brokers Kafka has registered
 * (fenced or not) and what each holds and leads, partition health, the topics
 * that would not survive losing one Kubernetes cluster, and how far what the
 * function asked for has come (drain, maintenance, leadership restored). Pure, so it is tested without Kafka; only fields a
 * reader acts on are reported, and none that changes while nothing happens
 * (lag and last contact only while a replica is behind), so a steady cluster
 * causes no status writes.
 */
import type { KafkaAdmin, KafkaLive, QuorumMember } from "../../apis/index.ts";
import type { KafkaView, QuorumReplica } from "./admin.ts";
import { planEvacuation, planRestore } from "./evacuate.ts";
import { caughtUp as isCaughtUp, effectiveMinIsr, takedownState, type Topic } from "./health.ts";
/** At most this many topics are named in dataAtRisk (all are counted). */
export const dataAtRiskListed = 50;

type Node = KafkaAdmin["nodes"][number];

function member(
  r: QuorumReplica,
  leaderEnd: bigint,
  now: number,
  nodes: Map<number, Node>,
): QuorumMember {
  const caughtUp = isCaughtUp(r, now);
  const cluster = nodes.get(r.id)?.cluster;
  return {
    id: r.id,
    ...(cluster ? { cluster } : {}),
    caughtUp,
    ...(caughtUp
      ? {}
      : {
          lag: Number(
            leaderEnd > r.logEndOffset && r.logEndOffset >= 0n ? leaderEnd - r.logEndOffset : 0n,
          ),
          ...(r.lastFetchTimestamp > 0n
            ? {
                lastContactSeconds: Math.max(
                  0,
                  Math.round((now - Number(r.lastFetchTimestamp)) / 1000),
                ),
              }
            : {}),
        }),
  };
}

/** Whether partitions of a topic would survive losing each cluster; why not, per cluster. */
function topicRisks(
  topic: Topic,
  minIsr: number | undefined,
  clusters: string[],
  clusterOf: (id: number) => string | undefined,
): { cluster: string; reason: string }[] {
  if (minIsr === undefined)
    return clusters.map((cluster) => ({
      cluster,
      reason: "min.insync.replicas unknown: Kafka did not answer DescribeConfigs for the topic",
    }));
  const out: { cluster: string; reason: string }[] = [];
  for (const c of clusters) {
    let lost = 0;
    let belowMinIsr = 0;
    for (const p of topic.partitions) {
      // A replica on a broker the claim no longer has (a lost cluster's) counts for nothing.
      const left = p.replicas.filter((id) => {
        const where = clusterOf(id);
        return where !== undefined && where !== c;
      }).length;
      if (left === 0) lost++;
      else if (left < minIsr) belowMinIsr++;
    }
    if (lost > 0) {
      out.push({
        cluster: c,
        reason: `${lost} of ${topic.partitions.length} partitions would lose every replica`,
      });
    } else if (belowMinIsr > 0) {
      out.push({
        cluster: c,
        reason: `${belowMinIsr} of ${topic.partitions.length} partitions would fall below min.insync.replicas=${minIsr} (acks=all writes refused)`,
      });
    }
  }
  return out;
}

/** The brokers and controllers of some clusters, by the admin channel's node list. */
export function nodesIn(
  admin: KafkaAdmin,
  clusters: string[] | undefined,
): { brokers: Set<number>; controllers: Set<number> } {
  const of = admin.nodes.filter((n) => (clusters ?? []).includes(n.cluster));
  return {
    brokers: new Set(of.filter((n) => n.roles.includes("broker")).map((n) => n.id)),
    controllers: new Set(of.filter((n) => n.roles.includes("controller")).map((n) => n.id)),
  };
}

function evacuationLive(
  view: KafkaView,
  admin: KafkaAdmin,
  now: number,
): Pick<KafkaLive, "evacuation" | "restorePending"> {
  const out: Pick<KafkaLive, "evacuation" | "restorePending"> = {};
  if (admin.evacuate && admin.evacuate.length > 0) {
    const away = nodesIn(admin, admin.evacuate);
    const stuck = planEvacuation(view, away.brokers).stuck;
    out.evacuation = {
      clusters: [...admin.evacuate].sort(),
      ...takedownState(view, away.brokers, away.controllers, now, admin.minInSyncReplicas),
      ...(stuck.length > 0 ? { stuck: stuck.slice(0, 10) } : {}),
    };
  }
  if (admin.restoreLeadership && admin.restoreLeadership.length > 0) {
    const back = planRestore(view, nodesIn(admin, admin.restoreLeadership).brokers);
    out.restorePending = new Set(
      [...back.moves, ...back.elect].map((m) => `${m.topic}/${m.partition}`),
    ).size;
  }
  return out;
}

/** Kafka's view as the live status; the claim's min.insync.replicas comes with the admin channel. */
export function liveStatus(view: KafkaView, admin: KafkaAdmin, now: number): KafkaLive {
  const nodes = new Map(admin.nodes.map((n) => [n.id, n]));
  const clusters = [...new Set(admin.nodes.map((n) => n.cluster))];
  const clusterOf = (id: number): string | undefined => nodes.get(id)?.cluster;
  const leaderEnd =
    view.quorum.voters.find((v) => v.id === view.quorum.leaderId)?.logEndOffset ?? 0n;
  const registered = new Map(view.brokers.map((b) => [b.id, b]));
  const replicas = new Map<number, number>();
  const leaders = new Map<number, number>();
  const partitions = {
    total: 0,
    underReplicated: 0,
    underMinIsr: 0,
    minIsrUnknown: 0,
    offline: 0,
  };
  const atRisk: NonNullable<KafkaLive["dataAtRisk"]> = [];
  let riskyTopics = 0;
  for (const t of view.topics) {
    const minIsr = effectiveMinIsr(t, admin.minInSyncReplicas);
    for (const p of t.partitions) {
      partitions.total++;
      if (p.isr.length < p.replicas.length) partitions.underReplicated++;
      if (minIsr === undefined) partitions.minIsrUnknown++;
      else if (p.isr.length < minIsr) partitions.underMinIsr++;
      if (p.leader < 0) partitions.offline++;
      for (const r of p.replicas) replicas.set(r, (replicas.get(r) ?? 0) + 1);
      if (p.leader >= 0) leaders.set(p.leader, (leaders.get(p.leader) ?? 0) + 1);
    }
    const risks = topicRisks(t, minIsr, clusters, clusterOf);
    if (risks.length === 0) continue;
    riskyTopics++;
    for (const r of risks)
      if (atRisk.length < dataAtRiskListed) atRisk.push({ topic: t.name, ...r });
  }
  const features: Record<string, number> = {};
  for (const k of Object.keys(view.features).sort()) features[k] = view.features[k] ?? 0;
  return {
    reachable: true,
    clusterId: view.clusterId,
    features,
    quorum: {
      leaderId: view.quorum.leaderId,
      leaderEpoch: view.quorum.leaderEpoch,
      voters: view.quorum.voters
        .map((v) => member(v, leaderEnd, now, nodes))
        .sort((a, b) => a.id - b.id),
      observers: view.quorum.observers
        .map((v) => member(v, leaderEnd, now, nodes))
        .sort((a, b) => a.id - b.id),
    },
    brokers: [
      ...admin.nodes
        .filter((n) => n.roles.includes("broker"))
        .map((n) => ({ id: n.id, cluster: n.cluster })),
      // Retired brokers, until the function sees them NotRegistered and forgets
      // them, and a lost cluster's brokers while their replicas are re-created.
      ...[...new Set([...(admin.retiredBrokers ?? []), ...(admin.drain?.nodes ?? [])])]
        .filter((id) => !nodes.has(id))
        .map((id) => ({ id, cluster: registered.get(id)?.rack ?? "" })),
    ]
      .map((b) => {
        const r = registered.get(b.id);
        return {
          ...b,
          state: !r
            ? ("NotRegistered" as const)
            : r.fenced
              ? ("Fenced" as const)
              : ("Registered" as const),
          replicas: replicas.get(b.id) ?? 0,
          leaders: leaders.get(b.id) ?? 0,
        };
      })
      .sort((a, b) => a.id - b.id),
    partitions: { ...partitions, reassigning: view.reassigning.length },
    dataAtRisk: atRisk,
    dataAtRiskTopics: riskyTopics,
    ...evacuationLive(view, admin, now),
    ...(admin.drain && admin.drain.nodes.length > 0
      ? {
          drain: {
            nodes: [...admin.drain.nodes].sort((a, b) => a - b),
            replicasLeft: admin.drain.nodes.reduce((s, id) => s + (replicas.get(id) ?? 0), 0),
          },
        }
      : {}),
  };
}
