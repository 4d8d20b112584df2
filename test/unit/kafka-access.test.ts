/**
 * What KafkaTopics and KafkaUsers ask of Kafka (controller/kafka/topics.ts,
 * acls.ts): replicas one per Kubernetes cluster with leaders spread, resized
 * without moving more than needed, partitions only added, configuration
 * diffed key by key, ACLs made exactly equal, SCRAM credentials as RFC 5802
 * derives them.
 */
import assert from "node:assert/strict";
import { pbkdf2Sync } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { aclChanges, scramCredential, username, wantedAcls } from "../../controller/kafka/acls.ts";
import {
  configChanges,
  placePartition,
  planTopic,
  resizePartition,
  type BrokersByCluster,
} from "../../controller/kafka/topics.ts";

const three: BrokersByCluster = new Map([
  ["east", [0, 1]],
  ["north", [3, 4]],
  ["west", [6, 7]],
]);
const clusterOf = (id: number): string => (id < 2 ? "east" : id < 5 ? "north" : "west");

test("each partition gets one replica per cluster; leaders and brokers rotate", () => {
  const parts = Array.from({ length: 6 }, (_, p) => placePartition(p, 3, three));
  for (const r of parts) assert.deepEqual(r.map(clusterOf).sort(), ["east", "north", "west"]);
  assert.deepEqual(
    parts.map((r) => clusterOf(r[0] ?? -1)),
    ["east", "north", "west", "east", "north", "west"],
  );
  // Every broker leads once over six partitions.
  assert.deepEqual(parts.map((r) => r[0]).sort(), [0, 1, 3, 4, 6, 7]);
});

test("more replicas than clusters: a second per cluster only after one in each", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 1, max: 6 }), (p, rf) => {
      const r = placePartition(p, rf, three);
      assert.equal(new Set(r).size, rf);
      const perCluster = ["east", "north", "west"].map(
        (c) => r.filter((id) => clusterOf(id) === c).length,
      );
      assert.ok(
        Math.max(...perCluster) - Math.min(...perCluster) <= 1,
        `${p}/${rf}: ${r.join(",")}`,
      );
    }),
  );
  assert.throws(() => placePartition(0, 7, three), /7 replicas need as many brokers; there are 6/);
});

test("a change of replicas keeps what it can and keeps one per cluster", () => {
  assert.deepEqual(resizePartition([0, 3, 6], 2, 0, three).length, 2);
  assert.equal(resizePartition([0, 3, 6], 2, 0, three)[0], 0, "the preferred leader stays");
  // 2 -> 3: the missing cluster gets the new replica.
  const grown = resizePartition([0, 3], 3, 0, three);
  assert.deepEqual(grown.slice(0, 2), [0, 3]);
  assert.equal(clusterOf(grown[2] ?? -1), "west");
  // 4 -> 3: the cluster holding two loses one.
  const shrunk = resizePartition([0, 3, 6, 1], 3, 0, three);
  assert.deepEqual(shrunk.map(clusterOf).sort(), ["east", "north", "west"]);
});

test("a topic plan: create, add partitions, refuse a decrease, move for replicas", () => {
  const wish = { name: "t", partitions: 3, replicas: 3, config: {} };
  const created = planTopic(wish, undefined, three, new Set());
  assert.equal(created.create?.length, 3);
  const found = {
    partitions: (created.create ?? []).map((replicas, id) => ({ id, replicas, isr: replicas })),
  };
  assert.deepEqual(planTopic(wish, found, three, new Set()), { moves: [], refused: [] });
  const more = planTopic({ ...wish, partitions: 5 }, found, three, new Set());
  assert.equal(more.addPartitions?.count, 5);
  assert.deepEqual(more.addPartitions.assignments, [
    placePartition(3, 3, three),
    placePartition(4, 3, three),
  ]);
  assert.deepEqual(planTopic({ ...wish, partitions: 2 }, found, three, new Set()).refused, [
    "spec.partitions: Kafka cannot remove partitions; the topic has 3, so spec.partitions must be at least 3",
  ]);
  const fewer = planTopic({ ...wish, replicas: 2 }, found, three, new Set([1]));
  assert.deepEqual(
    fewer.moves.map((m) => m.partition),
    [0, 2],
    "a partition already moving is left to finish",
  );
  assert.deepEqual(planTopic({ ...wish, replicas: 9 }, found, three, new Set()).refused, [
    "spec.replicas: 9 is more than the 6 brokers that can hold a replica",
  ]);
});

test("configuration: changed keys set, dropped keys removed, equal keys untouched", () => {
  assert.deepEqual(
    configChanges(
      { "retention.ms": "1", "cleanup.policy": "compact" },
      { "retention.ms": "1", "segment.ms": "9" },
    ),
    { "cleanup.policy": "compact", "segment.ms": undefined },
  );
});

test("ACLs: one binding per operation, exact difference to what Kafka holds", () => {
  const principal = `User:${username("alice", "tls")}`;
  assert.equal(principal, "User:CN=alice");
  assert.equal(username("bob", "scram-sha-512"), "bob");
  const wanted = wantedAcls(principal, [
    {
      resource: { type: "topic", name: "pay", patternType: "prefix" },
      operations: ["Write", "Describe"],
    },
    { resource: { type: "cluster" }, operations: ["IdempotentWrite"], type: "allow", host: "*" },
  ]);
  assert.deepEqual(
    wanted.map(
      (b) => `${b.resourceType}:${b.patternType}:${b.resourceName}:${b.operation}:${b.permission}`,
    ),
    [
      "TOPIC:PREFIXED:pay:WRITE:ALLOW",
      "TOPIC:PREFIXED:pay:DESCRIBE:ALLOW",
      "CLUSTER:LITERAL:kafka-cluster:IDEMPOTENT_WRITE:ALLOW",
    ],
  );
  const handMade = { ...wanted[0], resourceName: "other", principal } as (typeof wanted)[number];
  const changes = aclChanges(
    wanted.slice(1),
    [wanted[0], wanted[1], handMade].filter((b) => b !== undefined),
  );
  assert.deepEqual(changes.create, [wanted[2]]);
  assert.deepEqual(changes.remove, [wanted[0], handMade]);
});

test("SCRAM-SHA-512: the salted password is PBKDF2-HMAC-SHA-512 of the password, fresh salt each time", () => {
  const a = scramCredential("secret");
  const b = scramCredential("secret");
  assert.notDeepEqual(a.salt, b.salt);
  assert.equal(a.iterations, 4096);
  assert.deepEqual(a.saltedPassword, pbkdf2Sync("secret", a.salt, 4096, 64, "sha512"));
});
