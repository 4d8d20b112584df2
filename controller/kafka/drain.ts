/**
 * Draining brokers before they are removed: which partitions move where, and
 * the replication throttle that keeps the move from starving clients. Pure;
 * the supervisor (controller/provider/kafka-supervisor.ts) asks Kafka for the view
 * and tells it the moves.
 *
 * The placement guarantee is kept: a replica leaving a broker goes to another
 * broker of the same Kubernetes cluster when there is one (the partition keeps
 * one replica per cluster); when its whole cluster is leaving, to a cluster
 * the partition has no replica in yet; only when neither exists, to any
 * broker. Among equals, the broker holding the fewest replicas. A replica's
 * position is kept, so the preferred leader moves only when it leaves.
 *
 * The same moves re-create the replicas of a cluster given up for good
 * (its brokers are dead): a new replica copies from the partition's leader,
 * an in-sync replica elsewhere. A partition with no leader has nothing to
 * copy from; it is reported, never moved (the move could not complete and
 * would hold up every later one).
 */
import type { ConfigChange, KafkaView, PartitionMove } from "./admin.ts";

export interface DrainPlan {
  moves: PartitionMove[];
  /** Replicas still on the draining brokers (moves under way included). */
  replicasLeft: number;
  /** Partitions that cannot be moved anywhere, with why. */
  stuck: string[];
}

const leaderThrottled = "leader.replication.throttled.replicas";
const followerThrottled = "follower.replication.throttled.replicas";
const leaderRate = "leader.replication.throttled.rate";
const followerRate = "follower.replication.throttled.rate";
export const throttleKeys = { leaderThrottled, followerThrottled } as const;

/**
 * The moves that take every replica off `draining`. Partitions already being
 * reassigned are left alone (their move is Kafka's to finish): those Kafka
 * lists as reassigning, and those moved recently (`moved`, their target
 * replicas) whose replicas are not yet exactly the target. The second matters:
 * a broker's metadata can still show a finished move's interim replica set
 * (target plus leaving replicas) after the controller has forgotten the move,
 * and planning from it would add a replica instead of replacing one.
 * `targets` are the brokers that may receive replicas: registered, unfenced,
 * staying.
 */
export function planDrain(
  view: KafkaView,
  draining: Set<number>,
  targets: number[],
  clusterOf: (id: number) => string | undefined,
  moved: ReadonlyMap<string, number[]> = new Map(),
): DrainPlan {
  const load = new Map<number, number>(targets.map((id) => [id, 0]));
  for (const t of view.topics)
    for (const p of t.partitions)
      for (const r of p.replicas) if (load.has(r)) load.set(r, (load.get(r) ?? 0) + 1);
  const busy = unsettled(view, moved);
  const moves: PartitionMove[] = [];
  const stuck: string[] = [];
  let replicasLeft = 0;
  for (const t of view.topics) {
    for (const p of t.partitions) {
      const leaving = p.replicas.filter((r) => draining.has(r));
      replicasLeft += leaving.length;
      if (leaving.length === 0 || busy.has(`${t.name}/${p.id}`)) continue;
      if (p.leader < 0) {
        stuck.push(
          `${t.name}-${p.id} (replicas ${p.replicas.join(",")}): offline, no in-sync replica left to copy from`,
        );
        continue;
      }
      const next = [...p.replicas];
      let ok = true;
      for (const [i, r] of next.entries()) {
        if (!draining.has(r)) continue;
        const free = targets.filter((b) => !next.includes(b));
        const sameCluster = free.filter((b) => clusterOf(b) === clusterOf(r));
        const present = new Set(next.filter((b) => !draining.has(b)).map(clusterOf));
        const newCluster = free.filter((b) => !present.has(clusterOf(b)));
        const choice = [sameCluster, newCluster, free]
          .find((c) => c.length > 0)
          ?.sort((a, b) => (load.get(a) ?? 0) - (load.get(b) ?? 0) || a - b)[0];
        if (choice === undefined) {
          ok = false;
          stuck.push(
            `${t.name}-${p.id} (replicas ${p.replicas.join(",")}): no broker left to take the replica on ${r}; add brokers or lower the topic's replication factor`,
          );
          break;
        }
        next[i] = choice;
        load.set(choice, (load.get(choice) ?? 0) + 1);
      }
      if (ok) moves.push({ topic: t.name, partition: p.id, replicas: next });
    }
  }
  return { moves, replicasLeft, stuck };
}

/**
 * Partitions ("topic/partition") a plan must leave alone: those Kafka lists as
 * reassigning, and those moved recently (`moved`, their target replicas) whose
 * replicas are not yet exactly the target (see planDrain).
 */
export function unsettled(view: KafkaView, moved: ReadonlyMap<string, number[]>): Set<string> {
  const busy = new Set(view.reassigning.map((r) => `${r.topic}/${r.partition}`));
  for (const t of view.topics) {
    for (const p of t.partitions) {
      const target = moved.get(`${t.name}/${p.id}`);
      if (target && !sameSet(target, p.replicas)) busy.add(`${t.name}/${p.id}`);
    }
  }
  return busy;
}

export function sameSet(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/**
 * The throttle for a set of moves, as kafka-reassign-partitions sets it: the
 * rate, and per topic the replicas it applies to (current replicas lead, new
 * ones follow). The rate is set once, as the brokers' cluster-wide default
 * (each broker applies it unless it has its own value): a broker's own value
 * can only be changed through that broker, and the admin channel talks to one.
 * Lists are appended to, so moves of earlier rounds still under way stay
 * throttled.
 */
export function throttleFor(
  moves: PartitionMove[],
  view: KafkaView,
  bytesPerSecond: number,
): ConfigChange[] {
  const rate = String(bytesPerSecond);
  const configs: ConfigChange[] = [
    { resource: "broker", name: "", configs: { [leaderRate]: rate, [followerRate]: rate } },
  ];
  const append: ConfigChange[] = [];
  const byTopic = new Map<string, PartitionMove[]>();
  for (const m of moves) byTopic.set(m.topic, [...(byTopic.get(m.topic) ?? []), m]);
  for (const [topic, ms] of byTopic) {
    const current = new Map(
      (view.topics.find((t) => t.name === topic)?.partitions ?? []).map((p) => [p.id, p.replicas]),
    );
    const leaders = ms.flatMap((m) =>
      (current.get(m.partition) ?? []).map((b) => `${m.partition}:${b}`),
    );
    const followers = ms.flatMap((m) =>
      m.replicas
        .filter((b) => !(current.get(m.partition) ?? []).includes(b))
        .map((b) => `${m.partition}:${b}`),
    );
    append.push({
      resource: "topic",
      append: true,
      name: topic,
      configs: { [leaderThrottled]: leaders.join(","), [followerThrottled]: followers.join(",") },
    });
  }
  return [...configs, ...append];
}

/** Removes every throttle once no reassignment is under way. */
export function clearThrottles(view: KafkaView): ConfigChange[] {
  if (view.reassigning.length > 0) return [];
  const topics = view.topics.filter((t) => t.throttled);
  if (topics.length === 0) return [];
  return [
    {
      resource: "broker",
      name: "",
      configs: { [leaderRate]: undefined, [followerRate]: undefined },
    },
    ...topics.map((t): ConfigChange => ({
      resource: "topic",
      name: t.name,
      configs: { [leaderThrottled]: undefined, [followerThrottled]: undefined },
    })),
  ];
}
