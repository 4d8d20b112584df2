/**
 * A dynamic quorum's next voter change (controller/kafka/voters.ts): add a
 * caught-up controller, remove an unwanted voter only while the rest are
 * caught up, one change at a time, never from an empty wish.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KafkaView } from "../../controller/kafka/admin.ts";
import { nextVoterChange } from "../../controller/kafka/voters.ts";
import { now, quorumReplica } from "./kafka-fixtures.ts";

const replica = quorumReplica;
const view = (voters: number[], observers: KafkaView["quorum"]["observers"]): KafkaView => ({
  via: "b0:9091",
  clusterId: "abc",
  features: {},
  brokers: [],
  quorum: {
    leaderId: voters[0] ?? -1,
    leaderEpoch: 1,
    highWatermark: 10n,
    voters: voters.map((v) => replica(v)),
    observers,
  },
  topics: [],
  reassigning: [],
});
const want = (...ids: number[]) =>
  ids.map((id) => ({ id, listener: { name: "CONTROLPLANE-9090", host: `c${id}`, port: 9090 } }));

test("a wanted controller is added once caught up as an observer, with its directory and listener", () => {
  assert.equal(
    nextVoterChange(view([1, 2, 3], [replica(9, 60_000)]), want(1, 2, 3, 9), now),
    undefined,
  );
  assert.deepEqual(nextVoterChange(view([1, 2, 3], [replica(9)]), want(1, 2, 3, 9), now), {
    add: replica(9),
    listener: { name: "CONTROLPLANE-9090", host: "c9", port: 9090 },
  });
});

test("a voter no longer wanted is removed only while every other voter is caught up; adds go first", () => {
  assert.deepEqual(nextVoterChange(view([1, 2, 3, 9], []), want(1, 2, 3), now), {
    remove: replica(9),
  });
  const lagging = view([1, 2, 3, 9], []);
  lagging.quorum.voters[1] = replica(2, 60_000);
  assert.equal(nextVoterChange(lagging, want(1, 2, 3), now), undefined);
  // Replacing 9 by 10: 10 is added before 9 goes.
  assert.ok("add" in (nextVoterChange(view([1, 2, 9], [replica(10)]), want(1, 2, 10), now) ?? {}));
});

test("an empty or absent wish changes nothing", () => {
  assert.equal(nextVoterChange(view([1, 2, 3], []), [], now), undefined);
  assert.equal(nextVoterChange(view([1, 2, 3], []), undefined, now), undefined);
});
