/**
 * Whether Kafka can take a node's restart (controller/kafka/roll.ts), as the
 * rolling restart asks before deleting each pod.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KafkaView } from "../../controller/kafka/admin.ts";
import { restartBlocker, restartVerdict } from "../../controller/kafka/roll.ts";
import { now, quorumReplica, threeBrokerView } from "./kafka-fixtures.ts";

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
  assert.match(
    restartBlocker(
      view([
        [0, 1, 2],
        [1, 2],
      ]),
      at,
      broker(2),
      [0, 1, 2],
    ) ?? "",
    /1 partition\(s\) have replicas out of sync \(orders-1\)/,
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
  if (t) t.minIsr = 3;
  const v = restartVerdict(strict, at, broker(0), [0, 1, 2]);
  assert.equal(v.blocker, undefined);
  assert.deepEqual(v.pauses, ["orders-0", "orders-1"]);
  assert.deepEqual(restartVerdict(view(), at, broker(0), [0, 1, 2]).pauses, []);
  assert.deepEqual(restartVerdict(strict, at, controller(10), [0, 1, 2]).pauses, []);
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
