/**
 * Evacuating a cluster for maintenance (controller/kafka/evacuate.ts, and
 * takedownState of controller/kafka/health.ts):
 * leadership off its brokers by reordering replicas and electing, no data
 * moved; whether it is safe to stop; leadership back once cleared.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KafkaView } from "../../controller/kafka/admin.ts";
import { planEvacuation, planRestore } from "../../controller/kafka/evacuate.ts";
import { takedownState } from "../../controller/kafka/health.ts";
import { now, quorumReplica, threeBrokerView, type PartitionFixture } from "./kafka-fixtures.ts";

const voter = quorumReplica;

/** Brokers 0 (east), 1 (west), 2 (north); controllers 10, 11 (west), 12. */
const view = (parts: PartitionFixture[]): KafkaView => threeBrokerView(parts);

test("leadership leaves the evacuated brokers: in-sync replicas elsewhere go first, then an election", () => {
  const v = view([
    { replicas: [1, 0, 2], leader: 1 },
    { replicas: [0, 1, 2], leader: 0 },
    { replicas: [2, 1, 0], leader: 1, isr: [2, 1] },
  ]);
  const plan = planEvacuation(v, new Set([1]));
  assert.deepEqual(plan.moves, [{ topic: "orders", partition: 0, replicas: [0, 2, 1] }]);
  assert.deepEqual(plan.elect, [
    { topic: "orders", partition: 0 },
    { topic: "orders", partition: 2 },
  ]);
  assert.deepEqual(plan.stuck, []);
  const alone = planEvacuation(view([{ replicas: [1, 0], leader: 1, isr: [1] }]), new Set([1]));
  assert.deepEqual(alone.stuck, ["orders-0"]);
});

test("safe to stop only with no leader there, min ISR elsewhere and a caught-up majority elsewhere", () => {
  const led = view([{ replicas: [1, 0, 2], leader: 1 }]);
  assert.deepEqual(takedownState(led, new Set([1]), new Set([11]), now, 2), {
    leadersLeft: 1,
    belowMinIsrWithout: 0,
    quorumKeepsMajority: true,
    safe: false,
  });
  const moved = view([{ replicas: [0, 2, 1], leader: 0 }]);
  assert.equal(takedownState(moved, new Set([1]), new Set([11]), now, 2).safe, true);
  const thin = view([{ replicas: [0, 2, 1], leader: 0, isr: [0, 1] }]);
  assert.equal(takedownState(thin, new Set([1]), new Set([11]), now, 2).belowMinIsrWithout, 1);
  const lagging = view([{ replicas: [0, 2, 1], leader: 0 }]);
  lagging.quorum.voters[2] = voter(12, 60_000);
  assert.equal(
    takedownState(lagging, new Set([1]), new Set([11]), now, 2).quorumKeepsMajority,
    false,
  );
});

test("restoring gives partitions holding a replica there balanced preferred leaders, and elects them", () => {
  const v = view([
    { replicas: [0, 2, 1], leader: 0 },
    { replicas: [2, 0, 1], leader: 2 },
    { replicas: [0, 2], leader: 0 },
  ]);
  const plan = planRestore(v, new Set([1]));
  // Partition n's preferred leader: replicas by id, rotated by n (0 keeps 0; 1 gets 1).
  assert.deepEqual(plan.moves, [{ topic: "orders", partition: 1, replicas: [1, 2, 0] }]);
  assert.deepEqual(plan.elect, [{ topic: "orders", partition: 1 }]);
  const settled = planRestore(
    view([
      { replicas: [0, 1, 2], leader: 0 },
      { replicas: [1, 2, 0], leader: 1 },
    ]),
    new Set([1]),
  );
  assert.deepEqual(settled, { moves: [], elect: [], stuck: [] });
});
