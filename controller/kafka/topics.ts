/**
 * What a KafkaTopic asks of Kafka, decided from Kafka's view (pure): where
 * each partition's replicas go (one per Kubernetes cluster before any cluster
 * gets a second, the leader rotating across clusters and the broker within
 * each), the partitions to add, the replicas to move for a change of
 * replicas, the configuration keys to set and to remove, and what cannot be
 * done (fewer partitions, more replicas than brokers).
 */
import type { PartitionMove } from "./admin.ts";

/** Brokers that can take replicas, by Kubernetes cluster. */
export type BrokersByCluster = Map<string, number[]>;

function sortedClusters(brokers: BrokersByCluster): { name: string; ids: number[] }[] {
  return [...brokers]
    .filter(([, ids]) => ids.length > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, ids]) => ({ name, ids: [...ids].sort((x, y) => x - y) }));
}

/**
 * Replicas of partition `p`: the clusters in turn starting at p's, one broker
 * each, again from the first cluster while more are needed. Throws when there
 * are fewer brokers than replicas.
 */
export function placePartition(p: number, replicas: number, brokers: BrokersByCluster): number[] {
  const clusters = sortedClusters(brokers);
  const total = clusters.reduce((n, c) => n + c.ids.length, 0);
  if (replicas > total)
    throw new Error(`${replicas} replicas need as many brokers; there are ${total}`);
  const out: number[] = [];
  const start = p % clusters.length;
  const lap = Math.floor(p / clusters.length);
  for (let round = 0; out.length < replicas; round++) {
    for (let i = 0; i < clusters.length && out.length < replicas; i++) {
      const c = clusters[(start + i) % clusters.length];
      if (!c || round >= c.ids.length) continue;
      const id = c.ids[(lap + round) % c.ids.length];
      if (id !== undefined && !out.includes(id)) out.push(id);
    }
  }
  return out;
}

/**
 * A partition's replicas at a new count: kept where they are as far as
 * possible; when fewer, the extra ones leave the clusters holding the most
 * (never the leader's first); when more, clusters without a replica get one
 * first.
 */
export function resizePartition(
  current: number[],
  replicas: number,
  p: number,
  brokers: BrokersByCluster,
): number[] {
  const clusterOf = new Map<number, string>();
  for (const [c, ids] of brokers) for (const id of ids) clusterOf.set(id, c);
  const out = [...current];
  const count = (c: string | undefined): number =>
    out.filter((id) => clusterOf.get(id) === c).length;
  while (out.length > replicas) {
    // The last replica of the most crowded cluster goes (the preferred leader stays).
    let drop = out.length - 1;
    for (let i = out.length - 1; i > 0; i--) {
      if (count(clusterOf.get(out[i] ?? -1)) > count(clusterOf.get(out[drop] ?? -1))) drop = i;
    }
    out.splice(drop, 1);
  }
  // Every broker in p's rotation; among equally filled clusters the rotation decides.
  const order = out.length < replicas ? placePartition(p, clusterOf.size, brokers) : [];
  while (out.length < replicas) {
    const next = order
      .filter((id) => !out.includes(id))
      .sort((a, b) => count(clusterOf.get(a)) - count(clusterOf.get(b)))[0];
    if (next === undefined) throw new Error(`not enough brokers for ${replicas} replicas`);
    out.push(next);
  }
  return out;
}

export interface TopicWish {
  name: string;
  partitions: number;
  replicas: number;
  config: Record<string, string>;
}

/** A topic as Kafka's metadata shows it. */
export interface TopicFound {
  partitions: { id: number; replicas: number[]; isr: number[] }[];
}

export interface TopicPlan {
  /** Create with these replicas per partition. */
  create?: number[][];
  /** Add partitions up to `count`, with these replicas each. */
  addPartitions?: { count: number; assignments: number[][] };
  /** Partitions whose replicas change (a change of replicas). */
  moves: PartitionMove[];
  /** What cannot be done, each a sentence naming the field. */
  refused: string[];
}

export function planTopic(
  wish: TopicWish,
  found: TopicFound | undefined,
  brokers: BrokersByCluster,
  movingNow: Set<number>,
): TopicPlan {
  const total = [...brokers.values()].reduce((n, ids) => n + ids.length, 0);
  if (wish.replicas > total) {
    return {
      moves: [],
      refused: [
        `spec.replicas: ${wish.replicas} is more than the ${total} brokers that can hold a replica`,
      ],
    };
  }
  if (!found) {
    return {
      create: Array.from({ length: wish.partitions }, (_, p) =>
        placePartition(p, wish.replicas, brokers),
      ),
      moves: [],
      refused: [],
    };
  }
  const plan: TopicPlan = { moves: [], refused: [] };
  const have = found.partitions.length;
  if (wish.partitions < have) {
    plan.refused.push(
      `spec.partitions: Kafka cannot remove partitions; the topic has ${have}, so spec.partitions must be at least ${have}`,
    );
  } else if (wish.partitions > have) {
    plan.addPartitions = {
      count: wish.partitions,
      assignments: Array.from({ length: wish.partitions - have }, (_, i) =>
        placePartition(have + i, wish.replicas, brokers),
      ),
    };
  }
  for (const part of found.partitions) {
    if (part.replicas.length === wish.replicas || movingNow.has(part.id)) continue;
    plan.moves.push({
      topic: wish.name,
      partition: part.id,
      replicas: resizePartition(part.replicas, wish.replicas, part.id, brokers),
    });
  }
  return plan;
}

/** Keys to set (value) and to remove (undefined) for the topic's own configuration to be `wanted`. */
export function configChanges(
  wanted: Record<string, string>,
  current: Record<string, string>,
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(wanted)) if (current[k] !== v) out[k] = v;
  for (const k of Object.keys(current)) if (!(k in wanted)) out[k] = undefined;
  return out;
}
