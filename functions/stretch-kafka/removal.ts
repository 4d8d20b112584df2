/**
 * Removing brokers without losing data: a change that removes a broker (a
 * pool scaled down, a node named in removeNodeIds, a pool or a whole cluster
 * dropped from the claim) goes through only once Kafka says that broker holds
 * no partition replica. Otherwise, by `spec.brokerRemoval.policy`:
 * - Refuse (default): the whole change is refused, naming the broker and what
 *   it holds; nothing running is touched.
 * - Drain: the broker stays (its pool keeps its id) while the provider moves
 *   its replicas off (kafkaAdmin.drain); it is removed once Kafka reports it
 *   empty. A pool or cluster dropped from the claim cannot stay, so dropping
 *   one whose brokers hold data is refused under every policy: scale it to 0
 *   first.
 * - Unchecked: removed without asking (Strimzi's skip-broker-scaledown-check);
 *   what the broker held is lost where no other replica has it.
 * Removed brokers are retired: the provider unregisters each once Kafka has
 * fenced it, and the function forgets it once Kafka no longer knows it.
 * Pure: the answer is Kafka's live view as observed on the RemoteKafka
 * resources (status.atProvider.kafka).
 */
import type { KafkaLive } from "../../apis/index.ts";
import type { Topology } from "./topology.ts";
import type { Problem } from "./validate.ts";
import type { Spec } from "./spec.ts";

export type RemovalPolicy = "Refuse" | "Drain" | "Unchecked";

export interface Leaving {
  id: number;
  cluster: string;
  pool: string;
  /** Replicas it holds, as Kafka last said; undefined when Kafka could not be asked. */
  replicas: number | undefined;
  /** A controller waiting to leave the quorum's voters (not a broker being drained). */
  voter?: boolean;
}

export interface RemovalDecision {
  /** Brokers kept running (back into their pools) while their replicas move. */
  draining: Leaving[];
  /** Refusals (fatal). */
  problems: Problem[];
  /** Brokers removed (now or before) that Kafka may still have registered. */
  retired: number[];
}

/** Where a broker id was in the previous run: its cluster and pool. */
export interface PreviousBroker {
  id: number;
  cluster: string;
  pool: string;
}

function poolField(spec: Spec, cluster: string, pool: string): string {
  const ci = spec.clusters.findIndex((c) => c.name === cluster);
  const c = spec.clusters[ci];
  if (!c) return "spec.clusters";
  const pi = c.nodePools.findIndex((p) => p.name === pool);
  return pi < 0
    ? `spec.clusters[${ci}].nodePools`
    : `spec.clusters[${ci}].nodePools[${pi}].replicas`;
}

function whyUnknown(live: KafkaLive | undefined): string {
  if (!live) return "the provider has not asked Kafka yet";
  if (!live.reachable) return live.message ?? "Kafka could not be asked";
  return "Kafka's last answer does not list it yet";
}

export function decideRemovals(
  spec: Spec,
  before: PreviousBroker[],
  t: Topology,
  live: KafkaLive | undefined,
  retiredBefore: number[],
): RemovalDecision {
  const policy: RemovalPolicy = spec.brokerRemoval.policy;
  const staying = new Set(t.brokers.map((n) => n.id));
  const pools = new Set(
    spec.clusters.flatMap((c) =>
      c.nodePools.filter((p) => p.roles.includes("broker")).map((p) => `${c.name}/${p.name}`),
    ),
  );
  const liveBroker = (id: number): NonNullable<KafkaLive["brokers"]>[number] | undefined =>
    live?.reachable ? live.brokers?.find((b) => b.id === id) : undefined;
  const draining: Leaving[] = [];
  const problems: Problem[] = [];
  const removed: number[] = [];
  for (const b of before.filter((x) => !staying.has(x.id))) {
    const replicas = liveBroker(b.id)?.replicas;
    const leaving: Leaving = { ...b, replicas };
    const where = `broker ${b.id} (cluster ${b.cluster}, pool ${b.pool})`;
    if (policy === "Unchecked" || replicas === 0) {
      removed.push(b.id);
      continue;
    }
    const field = poolField(spec, b.cluster, b.pool);
    const canStay = pools.has(`${b.cluster}/${b.pool}`);
    const holds =
      replicas === undefined
        ? `cannot tell whether it holds partition replicas (${whyUnknown(live)})`
        : `it holds ${replicas} partition replica(s)`;
    if (!canStay) {
      problems.push({
        severity: "fatal",
        field,
        message: `removing ${where} is refused: ${holds}; scale the pool to 0 replicas first with spec.brokerRemoval.policy Drain (its replicas move to the other brokers), then remove it`,
      });
    } else if (policy === "Drain") {
      draining.push(leaving);
    } else {
      problems.push({
        severity: "fatal",
        field,
        message: `removing ${where} is refused: ${holds}; move them off first (set spec.brokerRemoval.policy to Drain to have them moved) or keep the broker`,
      });
    }
  }
  // Retired brokers are forgotten once Kafka reports them unknown.
  const gone = new Set(
    (live?.reachable ? (live.brokers ?? []) : [])
      .filter((b) => b.state === "NotRegistered")
      .map((b) => b.id),
  );
  const retired = [...new Set([...retiredBefore.filter((id) => !gone.has(id)), ...removed])]
    .filter((id) => !staying.has(id))
    .sort((a, b) => a - b);
  return { draining, problems, retired };
}

/** removeNodeIds and nextNodeIds that cannot be honoured, each naming its field. */
export function nodeIdProblems(
  spec: Spec,
  previous: { next: number; pools: { cluster: string; pool: string; ids: number[] }[] } | undefined,
): Problem[] {
  const problems: Problem[] = [];
  const next = previous?.next ?? 0;
  const pinnedBy = new Map<number, string>();
  spec.clusters.forEach((c, ci) => {
    c.nodePools.forEach((p, pi) => {
      const field = `spec.clusters[${ci}].nodePools[${pi}]`;
      const had = previous?.pools.find((x) => x.cluster === c.name && x.pool === p.name)?.ids ?? [];
      for (const id of p.nextNodeIds ?? []) {
        if (had.includes(id)) continue;
        if (id < next) {
          problems.push({
            severity: "fatal",
            field: `${field}.nextNodeIds`,
            message: `node id ${id} was given out before (every id below ${next} has been); node ids are never reused, pick ${next} or higher`,
          });
        }
        const other = pinnedBy.get(id);
        if (other) {
          problems.push({
            severity: "fatal",
            field: `${field}.nextNodeIds`,
            message: `node id ${id} is also in ${other}; each id can go to one pool only`,
          });
        }
        pinnedBy.set(id, `${field}.nextNodeIds`);
      }
      for (const id of p.removeNodeIds ?? []) {
        if (!had.includes(id)) {
          problems.push({
            severity: "warning",
            field: `${field}.removeNodeIds`,
            message: `node id ${id} is not in this pool (it has ${had.join(", ") || "none"}); nothing to remove`,
          });
        } else if (p.replicas >= had.length) {
          problems.push({
            severity: "warning",
            field: `${field}.removeNodeIds`,
            message: `node id ${id} is removed only when replicas shrinks (now ${p.replicas}, running ${had.length})`,
          });
        }
      }
    });
  });
  return problems;
}

/** Controllers a change removes that are still voters of a dynamic quorum. */
export interface VoterRemoval {
  /** Kept running (back into their pools) until Kafka no longer counts them as voters. */
  leaving: Leaving[];
  problems: Problem[];
}

/**
 * Removing a controller of a dynamic quorum takes its voter out first
 * (RemoveRaftVoter, by the provider), then its pod: until Kafka's live view no
 * longer lists it as a voter, it stays. Unknown while Kafka cannot be asked:
 * it stays then too. A pool or cluster dropped from the claim cannot keep it
 * running, so dropping one with a voter is refused: scale it to 0 first.
 * Static quorums cannot change their controllers at all (validateChange).
 */
export function decideVoterRemovals(
  spec: Spec,
  before: PreviousBroker[],
  t: Topology,
  live: KafkaLive | undefined,
): VoterRemoval {
  const leaving: Leaving[] = [];
  const problems: Problem[] = [];
  if (spec.quorum.mode !== "dynamic") return { leaving, problems };
  const staying = new Set(t.controllers.map((n) => n.id));
  const pools = new Set(
    spec.clusters.flatMap((c) =>
      c.nodePools.filter((p) => p.roles.includes("controller")).map((p) => `${c.name}/${p.name}`),
    ),
  );
  const voters = live?.reachable
    ? new Set((live.quorum?.voters ?? []).map((v) => v.id))
    : undefined;
  for (const c of before.filter((x) => !staying.has(x.id))) {
    if (voters && !voters.has(c.id)) continue;
    if (pools.has(`${c.cluster}/${c.pool}`)) {
      leaving.push({ ...c, replicas: undefined });
      continue;
    }
    problems.push({
      severity: "fatal",
      field: poolField(spec, c.cluster, c.pool),
      message: `removing controller ${c.id} (cluster ${c.cluster}, pool ${c.pool}) is refused: ${voters ? "it is a voter of the quorum" : `cannot tell whether it is a voter (${whyUnknown(live)})`}; scale the pool to 0 replicas first (its voter is removed, then its pod), then remove it`,
    });
  }
  return { leaving, problems };
}
