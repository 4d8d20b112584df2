/**
 * What the provider makes of Kafka's answers (controller/kafka/live.ts) and
 * what the composite's conditions make of that (functions/stretch-kafka).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KafkaAdmin } from "../../apis/index.ts";
import type { KafkaView } from "../../controller/kafka/admin.ts";
import { liveStatus } from "../../controller/kafka/live.ts";
import { liveQuorumRisk } from "../../functions/stretch-kafka/live.ts";

const now = 1_800_000_000_000;
const admin: KafkaAdmin = {
  authority: "orders",
  bootstrapServers: ["b0:9091"],
  nodes: [
    { id: 0, cluster: "east", roles: ["broker"] },
    { id: 1, cluster: "east", roles: ["controller"] },
    { id: 2, cluster: "west", roles: ["broker"] },
    { id: 3, cluster: "west", roles: ["controller"] },
    { id: 4, cluster: "north", roles: ["broker"] },
    { id: 5, cluster: "north", roles: ["controller"] },
  ],
};

function replica(
  id: number,
  end: bigint,
  caughtUpAgoMs: number,
): KafkaView["quorum"]["voters"][number] {
  return {
    id,
    directoryId: `dir-${id}`,
    logEndOffset: end,
    lastFetchTimestamp: BigInt(now - caughtUpAgoMs),
    lastCaughtUpTimestamp: BigInt(now - caughtUpAgoMs),
  };
}

function view(over: Partial<KafkaView> = {}): KafkaView {
  return {
    via: "b0:9091",
    clusterId: "abc",
    features: { "metadata.version": 27, "kraft.version": 0 },
    brokers: [
      { id: 0, rack: "east", fenced: false },
      { id: 2, rack: "west", fenced: false },
      { id: 4, rack: "north", fenced: false },
    ],
    quorum: {
      leaderId: 1,
      leaderEpoch: 3,
      highWatermark: 100n,
      voters: [replica(1, 100n, 0), replica(3, 100n, 200), replica(5, 100n, 300)],
      observers: [replica(0, 100n, 100), replica(2, 100n, 100), replica(4, 100n, 100)],
    },
    topics: [
      {
        name: "orders",
        id: "",
        internal: false,
        throttled: false,
        minIsr: { value: 2, override: true },
        partitions: [{ id: 0, leader: 0, replicas: [0, 2, 4], isr: [0, 2, 4], offline: [] }],
      },
    ],
    reassigning: [],
    ...over,
  };
}

test("a healthy cluster: every voter caught up, every broker registered, nothing at risk", () => {
  const live = liveStatus(view(), admin, now);
  assert.equal(live.reachable, true);
  assert.deepEqual(
    live.quorum?.voters?.map((v) => [v.id, v.cluster, v.caughtUp]),
    [
      [1, "east", true],
      [3, "west", true],
      [5, "north", true],
    ],
  );
  assert.ok(live.brokers?.every((b) => b.state === "Registered"));
  assert.deepEqual(live.partitions, {
    total: 1,
    underReplicated: 0,
    underMinIsr: 0,
    minIsrUnknown: 0,
    offline: 0,
    reassigning: 0,
  });
  assert.deepEqual(
    live.brokers?.map((b) => [b.id, b.replicas, b.leaders]),
    [
      [0, 1, 1],
      [2, 1, 0],
      [4, 1, 0],
    ],
  );
  assert.deepEqual(live.dataAtRisk, []);
  assert.equal(liveQuorumRisk(live), undefined);
  // Nothing that moves while nothing happens: the same answers a second later read the same.
  assert.deepEqual(liveStatus(view(), admin, now + 1000), live);
});

test("a topic with one replica, or all replicas in one cluster, is at risk, named with the cluster", () => {
  const live = liveStatus(
    view({
      topics: [
        {
          name: "single",
          id: "",
          internal: false,
          throttled: false,
          minIsr: { value: 2, override: true },
          partitions: [{ id: 0, leader: 2, replicas: [2], isr: [2], offline: [] }],
        },
        {
          name: "two",
          id: "",
          internal: false,
          throttled: false,
          minIsr: { value: 2, override: true },
          partitions: [{ id: 0, leader: 0, replicas: [0, 2], isr: [0, 2], offline: [] }],
        },
        {
          name: "spread",
          id: "",
          internal: false,
          throttled: false,
          minIsr: { value: 2, override: true },
          partitions: [{ id: 0, leader: 0, replicas: [0, 2, 4], isr: [0, 2, 4], offline: [] }],
        },
      ],
    }),
    admin,
    now,
  );
  assert.equal(live.dataAtRiskTopics, 2);
  assert.deepEqual(
    live.dataAtRisk?.map((r) => [
      r.topic,
      r.cluster,
      /every replica/.test(r.reason) ? "lost" : "below min ISR",
    ]),
    [
      // One replica is below min.insync.replicas=2 whichever cluster goes, and gone with west.
      ["single", "east", "below min ISR"],
      ["single", "west", "lost"],
      ["single", "north", "below min ISR"],
      ["two", "east", "below min ISR"],
      ["two", "west", "below min ISR"],
    ],
  );
});

test("a stopped cluster: its voter falls behind, its broker is not registered, the quorum is at risk", () => {
  const live = liveStatus(
    view({
      brokers: [
        { id: 0, rack: "east", fenced: false },
        // Still registered, but no longer heartbeating: the controller fenced it.
        { id: 2, rack: "west", fenced: true },
        { id: 4, rack: "north", fenced: false },
      ],
      quorum: {
        leaderId: 1,
        leaderEpoch: 4,
        highWatermark: 500n,
        voters: [replica(1, 500n, 0), replica(3, 100n, 60_000), replica(5, 500n, 100)],
        observers: [replica(0, 500n, 100), replica(4, 500n, 100)],
      },
      topics: [
        {
          name: "orders",
          id: "",
          internal: false,
          throttled: false,
          minIsr: { value: 2, override: true },
          partitions: [{ id: 0, leader: 0, replicas: [0, 2, 4], isr: [0, 4], offline: [2] }],
        },
      ],
    }),
    admin,
    now,
  );
  const west = live.quorum?.voters?.find((v) => v.id === 3);
  assert.deepEqual(west, {
    id: 3,
    cluster: "west",
    caughtUp: false,
    lag: 400,
    lastContactSeconds: 60,
  });
  assert.deepEqual(
    live.brokers?.filter((b) => b.state !== "Registered"),
    [{ id: 2, cluster: "west", state: "Fenced", replicas: 1, leaders: 0 }],
  );
  assert.deepEqual(live.partitions, {
    total: 1,
    underReplicated: 1,
    underMinIsr: 0,
    minIsrUnknown: 0,
    offline: 0,
    reassigning: 0,
  });
  // Losing east or north now would leave one caught-up voter of three.
  assert.match(
    liveQuorumRisk(live) ?? "",
    /losing east would leave 1 caught-up voter\(s\) of 3.*behind: 3 in west/,
  );
});

test("brokers being drained report what they hold; retired ones are listed until Kafka forgets them", () => {
  const live = liveStatus(
    view({
      brokers: [
        { id: 0, rack: "east", fenced: false },
        { id: 2, rack: "west", fenced: false },
        { id: 4, rack: "north", fenced: false },
        { id: 7, rack: "west", fenced: true },
      ],
      reassigning: [{ topic: "orders", partition: 0, adding: [4], removing: [2] }],
    }),
    { ...admin, drain: { nodes: [2], throttleBytesPerSecond: 52428800 }, retiredBrokers: [7, 9] },
    now,
  );
  assert.deepEqual(live.drain, { nodes: [2], replicasLeft: 1 });
  assert.equal(live.partitions?.reassigning, 1);
  assert.deepEqual(
    live.brokers?.filter((b) => b.id > 4),
    [
      { id: 7, cluster: "west", state: "Fenced", replicas: 0, leaders: 0 },
      { id: 9, cluster: "", state: "NotRegistered", replicas: 0, leaders: 0 },
    ],
  );
});

test("a cluster lost for good: its brokers, no longer the claim's, report what they still hold; their replicas count for nothing", () => {
  // north (broker 4, controller 5) was given up: the claim no longer has it,
  // its broker is fenced and its replica is what the drain re-creates.
  const lost: KafkaAdmin = {
    ...admin,
    nodes: admin.nodes.filter((n) => n.cluster !== "north"),
    drain: { nodes: [4], throttleBytesPerSecond: 52428800 },
  };
  const live = liveStatus(
    view({
      brokers: [
        { id: 0, rack: "east", fenced: false },
        { id: 2, rack: "west", fenced: false },
        { id: 4, rack: "north", fenced: true },
      ],
    }),
    lost,
    now,
  );
  assert.deepEqual(
    live.brokers?.find((b) => b.id === 4),
    { id: 4, cluster: "north", state: "Fenced", replicas: 1, leaders: 0 },
  );
  assert.deepEqual(live.drain, { nodes: [4], replicasLeft: 1 });
  // With north's replica counted for nothing, losing east or west leaves one in sync.
  assert.deepEqual(live.dataAtRisk?.map((r) => r.cluster).sort(), ["east", "west"]);
});
