/**
 * The KRaft quorum and what the topology can survive. A stretch cluster must
 * keep a controller majority and an in-sync replica set after losing any one
 * Kubernetes cluster.
 */
import { majority } from "../../apis/kafka-rules.ts";
import type { Topology } from "./topology.ts";

export interface QuorumRisk {
  /** A person-actionable explanation, or undefined when any single cluster can be lost. */
  message: string | undefined;
}

/** Controllers per cluster, in topology order. */
export function controllersPerCluster(t: Topology): { cluster: string; controllers: number }[] {
  return t.clusters.map((c) => ({
    cluster: c.name,
    controllers: c.nodes.filter((n) => n.isController).length,
  }));
}

/** Why losing some single cluster would lose the controller majority, if it would. */
export function quorumRisk(t: Topology): QuorumRisk {
  const total = t.controllers.length;
  const needed = majority(total);
  const perCluster = controllersPerCluster(t);
  const withControllers = perCluster.filter((c) => c.controllers > 0);
  if (withControllers.length < 3) {
    return {
      message: `controllers run in ${withControllers.length} cluster(s) (${withControllers.map((c) => c.cluster).join(", ") || "none"}); a stretch cluster needs controllers in at least 3 clusters to survive losing one`,
    };
  }
  const fatal = perCluster.filter((c) => total - c.controllers < needed);
  if (fatal.length > 0) {
    return {
      message: `losing cluster ${fatal.map((c) => `${c.cluster} (${c.controllers} of ${total} controllers)`).join(" or ")} would lose the controller majority (${needed} of ${total}); spread controllers so that no cluster holds half or more`,
    };
  }
  return { message: undefined };
}

/** Whether the controllers of the clusters still up form a majority. */
export function majorityWithout(t: Topology, down: Set<string>): boolean {
  const total = t.controllers.length;
  const up = t.controllers.filter((n) => !down.has(n.cluster)).length;
  return total > 0 && up >= majority(total);
}
