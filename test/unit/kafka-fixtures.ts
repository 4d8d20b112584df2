/** Kafka's answers as the admin channel parses them, built for the pure tests of controller/kafka/. */
import type { KafkaView } from "../../controller/kafka/admin.ts";

/** The clock the fixtures are relative to. */
export const now = 1_700_000_000_000;

/** A quorum member that last caught up (and fetched) `agoMs` before `now`. */
export function quorumReplica(
  id: number,
  agoMs = 100,
  end = 10n,
): KafkaView["quorum"]["voters"][number] {
  return {
    id,
    directoryId: `dir-${id}`,
    logEndOffset: end,
    lastFetchTimestamp: BigInt(now - agoMs),
    lastCaughtUpTimestamp: BigInt(now - agoMs),
  };
}

export interface PartitionFixture {
  replicas: number[];
  leader: number;
  /** Defaults to every replica. */
  isr?: number[];
}

/** Topic `orders`, min.insync.replicas 2 set on it, with these partitions. */
function ordersTopic(partitions: PartitionFixture[]): KafkaView["topics"][number] {
  return {
    name: "orders",
    id: "",
    internal: false,
    minIsr: { value: 2, override: true },
    throttled: false,
    partitions: partitions.map((p, id) => ({
      id,
      leader: p.leader,
      replicas: p.replicas,
      isr: p.isr ?? p.replicas,
      offline: [],
    })),
  };
}

/**
 * Brokers 0, 1, 2 (each its own rack), controllers 10 (leader), 11, 12 all
 * caught up, and one topic `orders` with min.insync.replicas 2.
 */
export function threeBrokerView(
  partitions: PartitionFixture[],
  over: Partial<KafkaView> = {},
): KafkaView {
  return {
    via: "b0:9091",
    clusterId: "abc",
    features: {},
    brokers: [0, 1, 2].map((id) => ({ id, rack: String(id), fenced: false })),
    quorum: {
      leaderId: 10,
      leaderEpoch: 1,
      highWatermark: 10n,
      voters: [quorumReplica(10), quorumReplica(11), quorumReplica(12)],
      observers: [],
    },
    topics: [ordersTopic(partitions)],
    reassigning: [],
    ...over,
  };
}

/**
 * Brokers with their racks and one topic `orders` (min.insync.replicas 2)
 * whose partition i has replicas `partitions[i]`, led by the first, all in
 * sync: the layout the placement planners (drain, balance) start from.
 */
export function placementView(
  partitions: number[][],
  brokers: number[],
  rackOf: (id: number) => string,
  over: Partial<KafkaView> = {},
): KafkaView {
  return {
    via: "b0:9091",
    clusterId: "abc",
    features: {},
    brokers: brokers.map((id) => ({ id, rack: rackOf(id), fenced: false })),
    quorum: { leaderId: 10, leaderEpoch: 1, highWatermark: 0n, voters: [], observers: [] },
    topics: [ordersTopic(partitions.map((replicas) => ({ replicas, leader: replicas[0] ?? -1 })))],
    reassigning: [],
    ...over,
  };
}
