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
 *
 * A cluster given up for good (dropped from the claim while its
 * ProviderConfig is abandoned, docs/operations.md "Replacing a lost cluster")
 * is the exception: nothing of it runs any more, so its nodes leave the
 * topology at once, under every policy (the abandon mark is the consent).
 * Its brokers are "lost": the provider re-creates their replicas on the
 * remaining brokers from the in-sync replicas (the drain, kafkaAdmin.drain)
 * and each is retired once Kafka reports it empty; a dynamic quorum's voter
 * of it is removed while the others keep a caught-up majority. The status
 * remembers them (status.kafka.removing, `lost`) until that is done.
 * Pure: the answer is Kafka's live view as observed on the RemoteKafka
 * resources (status.atProvider.kafka).
 */
import type { KafkaLive, KafkaStatus } from "../../apis/index.ts";
import { abandonedReason, byCluster, condition, type ObservedResources } from "./observed.ts";
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
  /** Of a cluster given up for good: nothing runs; what it held is re-created elsewhere. */
  lost?: boolean;
}

/** Clusters given up for good: dropped now (their managed resources abandoned), or before. */
export interface LostNodes {
  /** Clusters dropped from the claim whose managed resources the provider reports Abandoned. */
  clusters: Set<string>;
  /** Nodes of such clusters a previous run had not finished with (status.kafka.removing, lost). */
  before: Leaving[];
}

export const noLostNodes: LostNodes = { clusters: new Set(), before: [] };

/**
 * The clusters given up for good: dropped from the claim while the provider
 * reports a managed resource of theirs Abandoned (their ProviderConfig
 * carries the abandon mark), and the lost nodes a previous run recorded.
 */
export function lostNodesOf(
  spec: Spec,
  removing: KafkaStatus["removing"],
  observed: ObservedResources,
): LostNodes {
  const inSpec = new Set(spec.clusters.map((c) => c.name));
  const clusters = new Set<string>();
  for (const [cluster, mrs] of byCluster(observed)) {
    if (inSpec.has(cluster)) continue;
    if (mrs.some((mr) => condition(mr, "Synced")?.reason === abandonedReason))
      clusters.add(cluster);
  }
  const before = (removing ?? [])
    .filter((r) => r.lost)
    .map((r): Leaving => ({
      id: r.id,
      cluster: r.cluster,
      pool: r.pool,
      replicas: r.replicasLeft,
      ...(r.voter ? { voter: true } : {}),
      lost: true,
    }));
  return { clusters, before };
}

export interface RemovalDecision {
  /** Brokers kept running (back into their pools) while their replicas move. */
  draining: Leaving[];
  /** Brokers of clusters given up for good whose replicas are still re-created elsewhere. */
  lost: Leaving[];
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

/** A node of a cluster given up for good: its cluster is lost now, or a previous run recorded it lost. */
function isLost(n: PreviousBroker, clusters: Set<string>, before: Leaving[]): boolean {
  return clusters.has(n.cluster) || before.some((b) => b.id === n.id);
}

/** The nodes of `before` and of the lost ones still tracked, each once. */
function withLost(before: PreviousBroker[], lost: Leaving[]): PreviousBroker[] {
  const had = new Set(before.map((b) => b.id));
  return [
    ...before,
    ...lost.filter((n) => !had.has(n.id)).map(({ id, cluster, pool }) => ({ id, cluster, pool })),
  ];
}

/** What to do when a cluster dropped from the claim is lost for good rather than empty. */
const ifLost = (cluster: string): string =>
  `; if cluster ${cluster} is lost for good, mark its ProviderConfig abandoned instead (docs/operations.md, "Replacing a lost cluster"): its brokers' replicas are then re-created elsewhere from the in-sync replicas, and its controllers leave the voters`;

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
  lostNodes: LostNodes = noLostNodes,
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
  const lost: Leaving[] = [];
  const problems: Problem[] = [];
  const removed: number[] = [];
  const lostBefore = lostNodes.before.filter((n) => !n.voter);
  for (const b of withLost(before, lostBefore).filter((x) => !staying.has(x.id))) {
    const replicas = liveBroker(b.id)?.replicas;
    const leaving: Leaving = { ...b, replicas };
    const where = `broker ${b.id} (cluster ${b.cluster}, pool ${b.pool})`;
    if (isLost(b, lostNodes.clusters, lostBefore)) {
      if (replicas === 0) removed.push(b.id);
      else lost.push({ ...leaving, lost: true });
      continue;
    }
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
        message: `removing ${where} is refused: ${holds}; scale the pool to 0 replicas first with spec.brokerRemoval.policy Drain (its replicas move to the other brokers), then remove it${spec.clusters.some((c) => c.name === b.cluster) ? "" : ifLost(b.cluster)}`,
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
  return { draining, lost, problems, retired };
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
  lostNodes: LostNodes = noLostNodes,
): VoterRemoval {
  const leaving: Leaving[] = [];
  const problems: Problem[] = [];
  // A static quorum cannot drop a lost cluster's controllers: validateChange says why.
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
  const lostBefore = lostNodes.before.filter((n) => n.voter);
  for (const c of withLost(before, lostBefore).filter((x) => !staying.has(x.id))) {
    if (voters && !voters.has(c.id)) continue;
    if (isLost(c, lostNodes.clusters, lostBefore)) {
      // Nothing of it runs: its voter goes (the provider, RemoveRaftVoter), its pod is gone.
      leaving.push({ ...c, replicas: undefined, voter: true, lost: true });
      continue;
    }
    if (pools.has(`${c.cluster}/${c.pool}`)) {
      leaving.push({ ...c, replicas: undefined });
      continue;
    }
    problems.push({
      severity: "fatal",
      field: poolField(spec, c.cluster, c.pool),
      message: `removing controller ${c.id} (cluster ${c.cluster}, pool ${c.pool}) is refused: ${voters ? "it is a voter of the quorum" : `cannot tell whether it is a voter (${whyUnknown(live)})`}; scale the pool to 0 replicas first (its voter is removed, then its pod), then remove it${spec.clusters.some((x) => x.name === c.cluster) ? "" : ifLost(c.cluster)}`,
    });
  }
  return { leaving, problems };
}
