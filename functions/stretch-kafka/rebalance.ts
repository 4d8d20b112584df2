/**
 * Brokers that join take their share: a broker added to a running Kafka (a
 * pool scaled up, a cluster added) is remembered in the composite's status
 * (`status.kafka.joiningBrokers`) until the provider reports that nothing is
 * left to move onto it, and the admin channel asks the provider to move
 * replicas onto it (`kafkaAdmin.rebalance`, controller/kafka/balance.ts).
 *
 * The moves never run beside another change that moves data or restarts
 * nodes: while a drain, a maintenance evacuation or its return, a roll (a
 * node not at the current definition), a quorum migration, an address still
 * pending or an unready cluster is there, the brokers stay remembered and
 * nothing is asked; the Rebalancing condition says what it waits for.
 * Brokers of a new composite are not joining: there is no data yet. Pure:
 * the answer comes from the status and Kafka's live view as observed.
 */
import type { KafkaAdmin, KafkaLive } from "../../apis/index.ts";
import { refused } from "./live.ts";
import type { Spec } from "./spec.ts";
import type { FunctionCondition } from "./status.ts";
import type { Topology } from "./topology.ts";

export interface Joining {
  /** Brokers still to take their share, remembered in the status. */
  brokers: number[];
  /** Why nothing is asked of the provider now, if so. */
  waitingFor: string | undefined;
}

export interface JoiningInput {
  spec: Spec;
  t: Topology;
  /** The brokers of the last run (status.kafka.brokers); undefined for a new composite. */
  brokersBefore: number[] | undefined;
  /** Still joining at the last run (status.kafka.joiningBrokers). */
  joiningBefore: number[];
  live: KafkaLive | undefined;
  /** What must happen first, each as a clause ("the drain of broker 7 is done"); empty: nothing. */
  busy: string[];
}

export function joiningBrokers(o: JoiningInput): Joining {
  if (o.spec.rebalance.onScaleUp === "Off") return { brokers: [], waitingFor: undefined };
  const now = new Set(o.t.brokers.map((b) => b.id));
  const before = o.brokersBefore;
  const added = before ? [...now].filter((id) => !before.includes(id)) : [];
  const done =
    o.live?.reachable && o.live.rebalance?.state === "Done"
      ? new Set(o.live.rebalance.brokers)
      : new Set<number>();
  const brokers = [...new Set([...o.joiningBefore, ...added])]
    .filter((id) => now.has(id) && !done.has(id))
    .sort((a, b) => a - b);
  return { brokers, waitingFor: brokers.length > 0 ? o.busy[0] : undefined };
}

/** What the admin channel asks of the provider for them, while nothing else is under way. */
export function rebalanceRequest(spec: Spec, j: Joining): KafkaAdmin["rebalance"] {
  const [first, ...more] = j.brokers;
  if (first === undefined || j.waitingFor !== undefined) return undefined;
  return {
    onto: [first, ...more],
    throttleBytesPerSecond: spec.rebalance.throttleBytesPerSecond,
    maxPartitionMoves: spec.rebalance.maxPartitionMoves,
  };
}

/** Rebalancing: brokers that joined, taking their share of replicas, or waiting to. */
export function rebalancingCondition(j: Joining, live: KafkaLive | undefined): FunctionCondition {
  if (j.brokers.length === 0) {
    return {
      type: "Rebalancing",
      status: "False",
      reason: "NothingToMove",
      message: "no broker is waiting for its share of replicas",
    };
  }
  const which = `broker ${j.brokers.join(", ")}`;
  if (j.waitingFor) {
    // One message while it waits, whatever it waits for: under Crossplane
    // each change of a condition costs about three writes of the composite,
    // each a watch event its XR circuit breaker counts (ADR 0026), and what
    // is under way changes at each step of a scale-up. What is under way is
    // in the other conditions, and in a KafkaRebalance's progress.waitingFor.
    return {
      type: "Rebalancing",
      status: "True",
      reason: "WaitingForOtherChange",
      message: `${which} joined; replicas move onto it once nothing else is under way (no node starting, restarting or leaving, every cluster ready)`,
    };
  }
  const r = live?.reachable ? live.rebalance : undefined;
  const current = r && j.brokers.every((id) => r.brokers.includes(id)) ? r : undefined;
  if (!current || current.state === "Done") {
    return {
      type: "Rebalancing",
      status: "True",
      reason: live?.reachable === false ? "KafkaUnreachable" : "NotAskedYet",
      message: `${which} joined; ${live?.reachable === false ? (live.message ?? "Kafka cannot be asked") : "Kafka has not been asked since"}${refused(live, ["rebalance", "throttles"])}`,
    };
  }
  const figures = [
    ...(current.partitionsToMove !== undefined
      ? [`${String(current.partitionsToMove)} partition(s) to move`]
      : []),
    ...(current.leadersToChange ? [`${String(current.leadersToChange)} leader(s) to change`] : []),
    ...(current.replicaSpread
      ? [
          `replica spread ${String(current.replicaSpread.now ?? "?")} → ${String(current.replicaSpread.planned ?? "?")}`,
        ]
      : []),
  ];
  return {
    type: "Rebalancing",
    status: "True",
    reason: current.state === "Waiting" ? "WaitingForKafka" : "MovingReplicas",
    message:
      `${which} joined; ${current.state === "Waiting" ? `waiting: ${current.message ?? ""}` : "moving replicas onto it"}` +
      (figures.length > 0 ? ` (${figures.join(", ")})` : "") +
      refused(live, ["rebalance", "throttles"]),
  };
}
