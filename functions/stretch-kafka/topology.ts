/**
 * The resolved topology of one stretch Kafka cluster: every cluster, pool and
 * node with its id, pod name, roles and rack, in a stable order.
 */
import type { ClusterSpec, NodeIdAllocation, NodePoolSpec } from "../../apis/index.ts";
import type { Spec } from "./spec.ts";

export type Role = "controller" | "broker";

export interface KafkaNode {
  id: number;
  cluster: string;
  pool: string;
  roles: Role[];
  /** Pod name, Strimzi's convention: <kafka>-<pool>-<id>. */
  podName: string;
  rack: string;
  isController: boolean;
  isBroker: boolean;
}

export interface PoolPlan {
  spec: NodePoolSpec;
  /** StrimziPodSet name, Strimzi's convention: <kafka>-<pool>. */
  podSetName: string;
  nodes: KafkaNode[];
}

export interface ClusterPlan {
  spec: ClusterSpec;
  name: string;
  networkId: string;
  rack: string;
  pools: PoolPlan[];
  nodes: KafkaNode[];
}

export interface Topology {
  /** The Kafka cluster's name (strimzi.io/cluster), the claim's name. */
  kafkaName: string;
  namespace: string;
  clusters: ClusterPlan[];
  nodes: KafkaNode[];
  controllers: KafkaNode[];
  brokers: KafkaNode[];
}

export function rackOf(c: ClusterSpec): string {
  return c.zone ? `${c.name}-${c.zone}` : c.name;
}

export function buildTopology(
  kafkaName: string,
  spec: Spec,
  allocation: NodeIdAllocation,
): Topology {
  const idsOf = new Map(allocation.pools.map((p) => [`${p.cluster}/${p.pool}`, p.ids]));
  const clusters: ClusterPlan[] = spec.clusters.map((c) => {
    const rack = rackOf(c);
    const pools = c.nodePools.map((p): PoolPlan => {
      const roles = [...p.roles].sort() as Role[];
      const nodes = (idsOf.get(`${c.name}/${p.name}`) ?? []).map((id): KafkaNode => ({
        id,
        cluster: c.name,
        pool: p.name,
        roles,
        podName: `${kafkaName}-${p.name}-${id}`,
        rack,
        isController: roles.includes("controller"),
        isBroker: roles.includes("broker"),
      }));
      return { spec: p, podSetName: `${kafkaName}-${p.name}`, nodes };
    });
    return {
      spec: c,
      name: c.name,
      networkId: c.networkId ?? c.name,
      rack,
      pools,
      // By id, so that reordering pools in the claim changes nothing.
      nodes: pools.flatMap((p) => p.nodes).sort((a, b) => a.id - b.id),
    };
  });
  const nodes = clusters.flatMap((c) => c.nodes).sort((a, b) => a.id - b.id);
  return {
    kafkaName,
    namespace: spec.targetNamespace,
    clusters,
    nodes,
    controllers: nodes.filter((n) => n.isController),
    brokers: nodes.filter((n) => n.isBroker),
  };
}
