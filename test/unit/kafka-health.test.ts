/**
 * Kafka's safety rules (controller/kafka/health.ts): caught up, a majority
 * without some voters, a topic's effective min.insync.replicas, and whether
 * a node may restart, as the rolling restart asks before deleting each pod.
 * Each guard is fed a deliberately unsafe state once and seen to refuse it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KafkaView } from "../../controller/kafka/admin.ts";
import {
  caughtUp,
  effectiveMinIsr,
  isrWithout,
  quorumWithout,
  restartVerdict,
  takedownState,
  voterRemovalBlocker,
  type RestartCandidate,
} from "../../controller/kafka/health.ts";
import { now, quorumReplica, threeBrokerView } from "./kafka-fixtures.ts";

/** The claim's min.insync.replicas in these tests (the claim default for three clusters). */
const claimMinIsr = 2;
const restartBlocker = (
  v: KafkaView,
  at: number,
  node: RestartCandidate,
  brokers: number[],
): string | undefined => restartVerdict(v, at, node, brokers, claimMinIsr).blocker;

const at = now;
const voter = quorumReplica;

/** Controllers 10, 11, 12 (10 leads); brokers 0, 1, 2; one topic of RF 3, min ISR 2. */
function view(
  isr: number[][] = [
    [0, 1, 2],
    [1, 2, 0],
  ],
  over: Partial<KafkaView> = {},
): KafkaView {
  return threeBrokerView(
    isr.map((inSync) => ({ replicas: [0, 1, 2], leader: inSync[0] ?? -1, isr: inSync })),
    over,
  );
}

const broker = (nodeId: number) => ({ nodeId, broker: true, controller: false });
const controller = (nodeId: number) => ({ nodeId, broker: false, controller: true });

test("a healthy cluster takes any one node's restart", () => {
  for (const n of [broker(0), broker(2), controller(10), controller(12)])
    assert.equal(restartBlocker(view(), at, n, [0, 1, 2]), undefined);
});

test("a broker restarted before and not back in every ISR holds the roll", () => {
  const behind = view([
    [0, 1, 2],
    [1, 2],
  ]);
  // Broker 0 itself: nothing falls below min ISR without it, but it is behind.
  assert.match(
    restartBlocker(behind, at, broker(0), [0, 1, 2]) ?? "",
    /1 partition\(s\) have replicas out of sync \(orders-1\)/,
  );
  // Another broker: the more telling reason first, that orders-1 would fall below min ISR.
  assert.match(
    restartBlocker(behind, at, broker(2), [0, 1, 2]) ?? "",
    /restarting broker 2 would leave 1 partition\(s\) below min\.insync\.replicas \(orders-1\)/,
  );
  const fenced = view();
  fenced.brokers[0] = { id: 0, rack: "0", fenced: true };
  assert.match(
    restartBlocker(fenced, at, broker(1), [0, 1, 2]) ?? "",
    /broker\(s\) 0 not registered and unfenced/,
  );
  assert.match(
    restartBlocker(view(undefined, { brokers: [] }), at, broker(1), [0, 1, 2]) ?? "",
    /broker\(s\) 0, 1, 2 not registered/,
  );
});

test("with every ISR full no partition drops below min ISR; one whose RF leaves no choice is named, not waited for", () => {
  // RF 3, min ISR 3: every restart takes it below, so it cannot hold the roll forever.
  const strict = view();
  const t = strict.topics[0];
  if (t) t.minIsr = { value: 3, override: true };
  const v = restartVerdict(strict, at, broker(0), [0, 1, 2], claimMinIsr);
  assert.equal(v.blocker, undefined);
  assert.deepEqual(v.pauses, ["orders-0", "orders-1"]);
  assert.deepEqual(restartVerdict(view(), at, broker(0), [0, 1, 2], claimMinIsr).pauses, []);
  assert.deepEqual(restartVerdict(strict, at, controller(10), [0, 1, 2], claimMinIsr).pauses, []);
});

test("the quorum must have a leader and every voter caught up; a controller leaves a majority", () => {
  const lagging = view();
  lagging.quorum.voters[2] = voter(12, 60_000);
  assert.match(
    restartBlocker(lagging, at, broker(0), [0, 1, 2]) ?? "",
    /voter\(s\) 12 not caught up/,
  );
  const leaderless = view();
  leaderless.quorum.leaderId = -1;
  assert.match(restartBlocker(leaderless, at, controller(11), [0, 1, 2]) ?? "", /no leader/);
  const two = view();
  two.quorum.voters = [voter(10), voter(11)];
  assert.match(
    restartBlocker(two, at, controller(11), [0, 1, 2]) ?? "",
    /restarting controller 11 would leave 1 caught-up voter\(s\) of 2, below a majority/,
  );
});

test("caught up is within 10 s of the leader's log, and never for a member that never caught up", () => {
  assert.equal(caughtUp(voter(10, 9_999), now), true);
  assert.equal(caughtUp(voter(10, 10_001), now), false);
  assert.equal(caughtUp({ ...voter(10), lastCaughtUpTimestamp: 0n }, now), false);
  assert.equal(caughtUp({ ...voter(10), lastCaughtUpTimestamp: -1n }, now), false);
});

test("a majority without some voters counts only caught-up voters of all of them", () => {
  const q = view().quorum;
  assert.deepEqual(quorumWithout(q, new Set([11]), now), { left: 2, needed: 2, keeps: true });
  assert.deepEqual(quorumWithout(q, new Set([11, 12]), now), { left: 1, needed: 2, keeps: false });
  const lagging = { ...q, voters: [voter(10), voter(11), voter(12, 60_000)] };
  assert.equal(quorumWithout(lagging, new Set([11]), now).keeps, false);
  assert.equal(quorumWithout({ ...q, voters: [] }, new Set(), now).keeps, false);
});

test("effective min.insync.replicas: the topic's own, else the higher of the claim's and Kafka's, else unknown", () => {
  const topic = (minIsr: KafkaView["topics"][number]["minIsr"]): KafkaView["topics"][number] => ({
    ...(view().topics[0] as KafkaView["topics"][number]),
    minIsr,
  });
  assert.equal(effectiveMinIsr(topic({ value: 1, override: true }), 2), 1);
  assert.equal(effectiveMinIsr(topic({ value: 1, override: false }), 2), 2);
  assert.equal(effectiveMinIsr(topic({ value: 3, override: false }), 2), 3);
  assert.equal(effectiveMinIsr(topic({ value: 1, override: false }), undefined), 1);
  assert.equal(effectiveMinIsr(topic(undefined), 2), undefined);
});

test("guard: a restart that would take a partition below an unknown min.insync.replicas waits, never assumes 1", () => {
  // RF 2 with min ISR 2 (the claim's): the restart pauses writes; with the
  // topic's answer missing, the roll must not go on as if min ISR were 1.
  const unknown = threeBrokerView([{ replicas: [0, 1], leader: 0 }]);
  const t = unknown.topics[0];
  if (t) t.minIsr = undefined;
  const v = restartVerdict(unknown, at, broker(0), [0, 1, 2], claimMinIsr);
  assert.match(
    v.blocker ?? "",
    /min.insync.replicas of 1 partition\(s\) on broker 0 is unknown \(orders-0\)/,
  );
  // A broker holding none of that topic is not held by it.
  assert.equal(restartVerdict(unknown, at, broker(2), [0, 1, 2], claimMinIsr).blocker, undefined);
  // Known, the same partition is named as pausing, not waited for.
  const known = threeBrokerView([{ replicas: [0, 1], leader: 0 }]);
  assert.deepEqual(restartVerdict(known, at, broker(0), [0, 1, 2], claimMinIsr), {
    blocker: undefined,
    pauses: ["orders-0"],
  });
});

test("guard: without a broker, which partitions fall below min ISR; unknown ones are listed apart", () => {
  const v = threeBrokerView([
    { replicas: [0, 1, 2], leader: 0, isr: [0, 1] },
    { replicas: [1, 2, 0], leader: 1 },
    { replicas: [2, 1], leader: 2 },
  ]);
  assert.deepEqual(isrWithout(v, new Set([0]), claimMinIsr), {
    below: ["orders-0"],
    unknown: [],
    belowByDesign: [],
  });
  assert.deepEqual(isrWithout(v, new Set([1]), claimMinIsr).below, ["orders-0", "orders-2"]);
  assert.deepEqual(isrWithout(v, new Set([1]), claimMinIsr).belowByDesign, ["orders-2"]);
  const t = v.topics[0];
  if (t) t.minIsr = undefined;
  assert.deepEqual(isrWithout(v, new Set([2]), claimMinIsr).unknown, [
    "orders-0",
    "orders-1",
    "orders-2",
  ]);
});

test("guard: a cluster is not safe to take down while a partition's min ISR is unknown", () => {
  const v = threeBrokerView([{ replicas: [0, 2, 1], leader: 0 }]);
  assert.equal(takedownState(v, new Set([1]), new Set([11]), now, claimMinIsr).safe, true);
  const t = v.topics[0];
  if (t) t.minIsr = undefined;
  assert.deepEqual(takedownState(v, new Set([1]), new Set([11]), now, claimMinIsr), {
    leadersLeft: 0,
    belowMinIsrWithout: 1,
    quorumKeepsMajority: true,
    safe: false,
  });
});

test("guard: a voter is removed only while every other voter is caught up", () => {
  const q = view().quorum;
  assert.equal(voterRemovalBlocker(q, 12, now), undefined);
  const lagging = { ...q, voters: [voter(10), voter(11, 60_000), voter(12)] };
  assert.match(voterRemovalBlocker(lagging, 12, now) ?? "", /voter\(s\) 11 not caught up/);
  assert.match(voterRemovalBlocker({ ...q, voters: [voter(10)] }, 10, now) ?? "", /last one/);
});
