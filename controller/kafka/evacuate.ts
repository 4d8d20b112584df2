/**
 * Evacuating a Kubernetes cluster for maintenance: leadership moves off its
 * brokers before it is taken down, and comes back once it is cleared. No data
 * moves: a partition's replicas are reordered (AlterPartitionReassignments
 * with the same set, which Kafka completes at once) so that its preferred
 * leader is an in-sync replica elsewhere, then a preferred leader election
 * moves the leadership. Restoring reorders the partitions holding a replica
 * there to a balanced preferred leader (replicas by id, rotated by partition
 * number) and elects again. Whether the cluster can then be taken down is
 * controller/kafka/health.ts (takedownState). Pure; the supervisor tells Kafka.
 */
import type { KafkaView, PartitionMove } from "./admin.ts";

export interface LeadershipPlan {
  moves: PartitionMove[];
  /** Partitions whose preferred leader (after the moves) should lead. */
  elect: { topic: string; partition: number }[];
  /** Partitions with no in-sync replica outside the evacuated brokers. */
  stuck: string[];
}

export function planEvacuation(view: KafkaView, away: Set<number>): LeadershipPlan {
  const busy = new Set(view.reassigning.map((r) => `${r.topic}/${r.partition}`));
  const out: LeadershipPlan = { moves: [], elect: [], stuck: [] };
  for (const t of view.topics) {
    for (const p of t.partitions) {
      if (busy.has(`${t.name}/${p.id}`)) continue;
      let order = p.replicas;
      if (away.has(p.replicas[0] ?? -1)) {
        const stay = p.replicas.filter((r) => !away.has(r));
        const inSync = stay.filter((r) => p.isr.includes(r));
        if (inSync.length === 0) {
          out.stuck.push(`${t.name}-${p.id}`);
          continue;
        }
        order = [
          ...inSync,
          ...stay.filter((r) => !inSync.includes(r)),
          ...p.replicas.filter((r) => away.has(r)),
        ];
        out.moves.push({ topic: t.name, partition: p.id, replicas: order });
      }
      if (away.has(p.leader) && p.isr.includes(order[0] ?? -1))
        out.elect.push({ topic: t.name, partition: p.id });
    }
  }
  return out;
}

/** Balanced preferred leaders again for the partitions holding a replica on `back`. */
export function planRestore(view: KafkaView, back: Set<number>): LeadershipPlan {
  const busy = new Set(view.reassigning.map((r) => `${r.topic}/${r.partition}`));
  const out: LeadershipPlan = { moves: [], elect: [], stuck: [] };
  for (const t of view.topics) {
    for (const p of t.partitions) {
      if (busy.has(`${t.name}/${p.id}`) || !p.replicas.some((r) => back.has(r))) continue;
      const sorted = [...p.replicas].sort((a, b) => a - b);
      const k = p.id % sorted.length;
      const rotated = [...sorted.slice(k), ...sorted.slice(0, k)];
      // Only the preferred leader matters: the rest of the order stays.
      const first = rotated[0] ?? -1;
      const order = [first, ...p.replicas.filter((r) => r !== first)];
      if (first !== p.replicas[0])
        out.moves.push({ topic: t.name, partition: p.id, replicas: order });
      if (p.leader !== order[0] && p.isr.includes(order[0] ?? -1))
        out.elect.push({ topic: t.name, partition: p.id });
    }
  }
  return out;
}
