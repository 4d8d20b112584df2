/**
 * Draining brokers (controller/kafka/drain.ts): where each replica of a
 * leaving broker goes, and the throttle around the moves.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KafkaView } from "../../controller/kafka/admin.ts";
import { clearThrottles, planDrain, throttleFor } from "../../controller/kafka/drain.ts";
import { placementView } from "./kafka-fixtures.ts";

// Two brokers per cluster: east 0,1; west 2,3; north 4,5.
const cluster = (id: number): string => ["east", "west", "north"][Math.floor(id / 2)] ?? "";

function view(
  partitions: number[][],
  over: Partial<KafkaView> = {},
  brokers = [0, 1, 2, 3, 4, 5],
): KafkaView {
  return placementView(partitions, brokers, cluster, over);
}

test("a leaving broker's replicas go to the other broker of its cluster, in place", () => {
  const v = view([
    [2, 0, 4],
    [0, 2, 5],
    [1, 3, 4],
  ]);
  const plan = planDrain(v, new Set([2]), [0, 1, 3, 4, 5], cluster);
  assert.deepEqual(plan.moves, [
    { topic: "orders", partition: 0, replicas: [3, 0, 4] },
    { topic: "orders", partition: 1, replicas: [0, 3, 5] },
  ]);
  assert.equal(plan.replicasLeft, 2);
  assert.deepEqual(plan.stuck, []);
});

test("a whole cluster leaving hands each replica to a cluster the partition has none in", () => {
  // west (2, 3) is leaving: two clusters remain for RF 3, so each partition
  // first gets a replica in the cluster it lacks, then the least-loaded broker.
  const v = view([
    [2, 0, 4],
    [3, 1, 5],
    [0, 2, 3],
  ]);
  const plan = planDrain(v, new Set([2, 3]), [0, 1, 4, 5], cluster);
  const byPartition = new Map(plan.moves.map((m) => [m.partition, m.replicas]));
  assert.deepEqual(byPartition.get(0)?.slice(1), [0, 4], "the staying replicas keep their place");
  for (const [p, replicas] of byPartition) {
    assert.equal(new Set(replicas).size, 3, `partition ${p} keeps 3 distinct replicas`);
    assert.ok(!replicas.some((r) => r === 2 || r === 3), `partition ${p} leaves west`);
  }
  // Partition 2 had two replicas in west: one goes to north (not yet there), the
  // other wherever is least loaded, since no cluster is left without a replica.
  assert.ok(byPartition.get(2)?.some((r) => cluster(r) === "north"));
});

test("partitions already being reassigned are left to Kafka; nothing possible is reported stuck", () => {
  const v = view(
    [
      [2, 0, 4],
      [2, 0, 4],
    ],
    { reassigning: [{ topic: "orders", partition: 1, adding: [3], removing: [2] }] },
  );
  const plan = planDrain(v, new Set([2]), [0, 1, 3, 4, 5], cluster);
  assert.deepEqual(
    plan.moves.map((m) => m.partition),
    [0],
  );
  assert.equal(plan.replicasLeft, 2, "the partition under way still counts");
  const none = planDrain(view([[2, 0, 4]]), new Set([2]), [0, 4], cluster);
  assert.deepEqual(none.moves, []);
  assert.match(none.stuck[0] ?? "", /orders-0 .*no broker left to take the replica on 2/);
});

test("the throttle names the moving replicas and is cleared only once nothing moves", () => {
  const v = view([[2, 0, 4]]);
  const changes = throttleFor([{ topic: "orders", partition: 0, replicas: [3, 0, 4] }], v, 1048576);
  assert.deepEqual(changes, [
    {
      // The brokers' cluster-wide default: any broker may change it.
      resource: "broker",
      name: "",
      configs: {
        "leader.replication.throttled.rate": "1048576",
        "follower.replication.throttled.rate": "1048576",
      },
    },
    {
      resource: "topic",
      append: true,
      name: "orders",
      configs: {
        "leader.replication.throttled.replicas": "0:2,0:0,0:4",
        "follower.replication.throttled.replicas": "0:3",
      },
    },
  ]);
  const throttled = view([[3, 0, 4]]);
  const topic = throttled.topics[0];
  if (topic) topic.throttled = true;
  assert.deepEqual(
    clearThrottles({
      ...throttled,
      reassigning: [{ topic: "orders", partition: 0, adding: [3], removing: [2] }],
    }),
    [],
    "kept while a move is under way",
  );
  const cleared = clearThrottles(throttled);
  assert.equal(cleared.length, 2, "the default rate and the topic's lists");
  assert.deepEqual(cleared.at(-1), {
    resource: "topic",
    name: "orders",
    configs: {
      "leader.replication.throttled.replicas": undefined,
      "follower.replication.throttled.replicas": undefined,
    },
  });
  assert.deepEqual(clearThrottles(view([[3, 0, 4]])), [], "nothing to clear");
});

test("a move Kafka no longer lists but whose interim replicas a broker still shows is not planned again", () => {
  // 2 -> 3 was asked; the controller finished it, this broker's metadata still
  // shows target plus leaving replica. Planning from it would add a fourth replica.
  const v = view([[3, 0, 4, 2]]);
  const again = planDrain(v, new Set([2]), [0, 1, 3, 4, 5], cluster);
  assert.equal(again.moves[0]?.replicas.length, 4, "what a plan without memory would ask");
  const plan = planDrain(
    v,
    new Set([2]),
    [0, 1, 3, 4, 5],
    cluster,
    new Map([["orders/0", [3, 0, 4]]]),
  );
  assert.deepEqual(plan.moves, []);
  assert.equal(plan.replicasLeft, 1);
});

test("a lost cluster's replicas are re-created from the leader elsewhere; an offline partition is reported, never moved", () => {
  // north (4, 5) is gone for good: its brokers are dead, out of every ISR.
  const v = view(
    [
      [0, 2, 4],
      [5, 1, 3],
    ],
    {},
    [0, 1, 2, 3],
  );
  const p1 = v.topics[0]?.partitions[1];
  const p0 = v.topics[0]?.partitions[0];
  assert.ok(p0 && p1);
  p0.isr = [0, 2];
  p1.isr = [1, 3];
  p1.leader = 1;
  const plan = planDrain(v, new Set([4, 5]), [0, 1, 2, 3], cluster);
  assert.equal(plan.moves.length, 2);
  for (const m of plan.moves) {
    assert.equal(new Set(m.replicas).size, 3);
    assert.ok(!m.replicas.some((r) => r >= 4), `${m.partition} leaves north`);
  }
  assert.deepEqual(plan.stuck, []);

  // A partition whose only in-sync replica was in north has no leader: nothing to copy from.
  const offline = view([[4, 5, 0]], {}, [0, 1, 2, 3]);
  const p = offline.topics[0]?.partitions[0];
  assert.ok(p);
  p.leader = -1;
  p.isr = [];
  const none = planDrain(offline, new Set([4, 5]), [0, 1, 2, 3], cluster);
  assert.deepEqual(none.moves, []);
  assert.match(
    none.stuck[0] ?? "",
    /^orders-0 \(replicas 4,5,0\): offline, no in-sync replica left/,
  );
});
