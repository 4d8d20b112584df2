/**
 * One Kafka CR of a composite carries what the provider is asked to do
 * (kafkaAdmin.carrier, ADR 0026): the provider's Kafka supervisor takes its
 * channel, whatever order the managed resources come in, and makes data moves
 * wait while the carrier is moving to another cluster.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { KafkaAdmin, ManagedResource } from "../../apis/index.ts";
import { channels } from "../../controller/provider/kafka-supervisor.ts";

const base: KafkaAdmin = {
  authority: "orders-x1",
  bootstrapServers: ["orders-brokers-3.east:9091"],
  nodes: [{ id: 3, cluster: "east", roles: ["broker"] }],
};
const rebalance: KafkaAdmin["rebalance"] = {
  onto: [9],
  throttleBytesPerSecond: 1024,
  maxPartitionMoves: 2,
};
const metadataVersion = { name: "4.3-IV0", level: 29 };

function kafkaOf(cluster: string, admin: Partial<KafkaAdmin>, deleting = false): ManagedResource {
  return {
    apiVersion: "remote.stretchkafka.dev/v1alpha1",
    kind: "RemoteKafka",
    metadata: {
      name: `orders-x1-${cluster}-kafka`,
      ...(deleting ? { deletionTimestamp: "2026-12-07T00:00:00Z" } : {}),
    },
    spec: {
      providerConfigRef: { name: cluster },
      forProvider: {
        manifest: {
          apiVersion: "kafka.strimzi.io/v1beta2",
          kind: "Kafka",
          metadata: { name: "orders", namespace: "kafka" },
        },
        kafkaAdmin: { ...base, ...admin },
      },
    },
  };
}

test("the carrier's channel is taken, whichever comes first", () => {
  const carrier = kafkaOf("east", { carrier: true, rebalance, metadataVersion });
  const others = [kafkaOf("north", { carrier: false }), kafkaOf("west", { carrier: false })];
  for (const order of [
    [carrier, ...others],
    [...others, carrier],
    [others[0], carrier, others[1]],
  ] as ManagedResource[][]) {
    const [t, ...more] = channels(order);
    assert.equal(more.length, 0, "one channel per composite");
    assert.equal(t?.composite, "orders-x1");
    assert.deepEqual(t.admin.rebalance, rebalance);
    assert.deepEqual(t.admin.metadataVersion, metadataVersion);
    assert.equal(t.admin.movesWaitFor, undefined);
  }
});

test("no carrier seen among carried channels: data moves wait, nothing is raised", () => {
  const [t] = channels([
    kafkaOf("east", { carrier: true }, true),
    kafkaOf("north", { carrier: false }),
    kafkaOf("west", { carrier: false }),
  ]);
  assert.match(t?.admin.movesWaitFor ?? "", /carrier has moved/);
  assert.equal(t?.admin.rebalance, undefined);
  assert.equal(t?.admin.metadataVersion, undefined);
});

test("a channel rendered before carriers: every one carries all, the first is taken", () => {
  const [t] = channels([
    kafkaOf("east", { rebalance, movesWaitFor: "the drain of broker 7 is done" }),
    kafkaOf("west", { rebalance, movesWaitFor: "the drain of broker 7 is done" }),
  ]);
  assert.equal(t?.admin.movesWaitFor, "the drain of broker 7 is done");
  assert.deepEqual(t.admin.rebalance, rebalance);
});
