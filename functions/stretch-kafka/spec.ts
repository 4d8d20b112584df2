/**
 * The composite's spec as every step of the function reads it: a copy with
 * the schema's defaults applied once (apis/, as the API server applies them
 * to what it stores), so no step writes a default of its own.
 */
import {
  groups,
  withDefaults,
  type BrokerRemovalSpec,
  type KafkaSpec,
  type NetworkingSpec,
  type QuorumSpec,
  type RebalanceSpec,
  type StretchKafkaSpec,
  type StrimziSpec,
  type XStretchKafka,
} from "../../apis/index.ts";

type Filled<T, K extends keyof T> = T & { [P in K]-?: NonNullable<T[P]> };

/** A spec whose defaulted fields are all set. */
export type Spec = StretchKafkaSpec & {
  kafka: Filled<KafkaSpec, "version">;
  networking: Filled<NetworkingSpec, "clusterDomain" | "clusterSetDomain">;
  quorum: Filled<QuorumSpec, "mode" | "acceptQuorumRisk">;
  strimzi: Filled<StrimziSpec, "apiVersion">;
  brokerRemoval: Filled<BrokerRemovalSpec, "policy" | "throttleBytesPerSecond">;
  rebalance: Filled<RebalanceSpec, "onScaleUp" | "throttleBytesPerSecond" | "maxPartitionMoves">;
  targetNamespace: string;
};

export type Composite = XStretchKafka & { spec: Spec };

/** A copy of the composite with the schema's defaults applied; the input is not changed. */
export function resolve(xr: XStretchKafka): Composite {
  const out = withDefaults("XStretchKafka", xr);
  const s = out.spec;
  const missing = [
    ["spec.kafka.version", s.kafka.version],
    ["spec.networking.clusterDomain", s.networking.clusterDomain],
    ["spec.networking.clusterSetDomain", s.networking.clusterSetDomain],
    ["spec.quorum.mode", s.quorum?.mode],
    ["spec.quorum.acceptQuorumRisk", s.quorum?.acceptQuorumRisk],
    ["spec.strimzi.apiVersion", s.strimzi?.apiVersion],
    ["spec.brokerRemoval.policy", s.brokerRemoval?.policy],
    ["spec.brokerRemoval.throttleBytesPerSecond", s.brokerRemoval?.throttleBytesPerSecond],
    ["spec.rebalance.onScaleUp", s.rebalance?.onScaleUp],
    ["spec.rebalance.throttleBytesPerSecond", s.rebalance?.throttleBytesPerSecond],
    ["spec.rebalance.maxPartitionMoves", s.rebalance?.maxPartitionMoves],
    ["spec.targetNamespace", s.targetNamespace],
  ].filter(([, v]) => v === undefined);
  // The schema gives each of these a default: one missing means the schema changed.
  if (missing.length > 0)
    throw new Error(`the schema gave no default for ${missing.map(([f]) => f).join(", ")}`);
  return out as Composite;
}

/** The spec alone with the schema's defaults applied (for steps tested on their own). */
export function resolveSpec(spec: StretchKafkaSpec): Spec {
  return resolve({ apiVersion: groups.composite, kind: "XStretchKafka", metadata: {}, spec }).spec;
}
