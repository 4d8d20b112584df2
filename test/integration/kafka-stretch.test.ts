/**
 * Real Apache Kafka running exactly what the function renders, one
 * controller and one broker in each of three simulated Kubernetes clusters
 * (test/kafka/harness.ts): both quorum modes form, topics created with the
 * defaults get one replica per cluster, and an idempotent acks=all stream
 * loses nothing while a whole cluster is killed and comes back.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { KubeObject } from "../../functions/render.ts";
import { eventually } from "../../devbed/eventually.ts";
import { exampleProviderConfigs, threeClusterClaim } from "../kafka/claims.ts";
import { KafkaBed } from "../kafka/harness.ts";
import {
  checksum,
  consumeAll,
  createTopic,
  describeTopic,
  NumberedProducer,
  quorumStatus,
} from "../kafka/proofs.ts";

const providerConfigs = exampleProviderConfigs();
const claim = (mode: "static" | "dynamic"): KubeObject => threeClusterClaim("proof", mode);

const log = (m: string): void => {
  console.log(`[kafka] ${m}`);
};

/** Broker id -> the cluster it runs in. */
function racks(bed: KafkaBed): Map<number, string> {
  return new Map(bed.rendered.nodes.map((n) => [n.id, n.cluster]));
}

async function assertRackAware(bed: KafkaBed, topic: string): Promise<void> {
  await createTopic(bed, "east", topic, 6);
  const parts = await eventually(`${topic} has 6 partitions with leaders`, async () => {
    const p = await describeTopic(bed, "east", topic);
    return p.length === 6 && p.every((x) => x.leader >= 0) ? p : undefined;
  });
  const rack = racks(bed);
  for (const p of parts) {
    const clusters = p.replicas.map((id) => rack.get(id));
    assert.deepEqual(
      [...clusters].sort(),
      [...bed.clusters].sort(),
      `partition ${p.partition} has replicas ${p.replicas.join(",")} in ${clusters.join(",")}; want one in each cluster`,
    );
  }
}

describe("static quorum (controller.quorum.voters), TLS between all nodes", () => {
  let bed: KafkaBed | undefined;
  after(async () => {
    await bed?.stop();
  });

  test("the quorum forms with a controller and a broker in each cluster", async () => {
    bed = await KafkaBed.start({ claim: claim("static"), providerConfigs, latencyMs: 5, log });
    const controllers = bed.rendered.nodes.filter((n) => n.roles.includes("controller"));
    const brokers = bed.rendered.nodes.filter((n) => n.roles.includes("broker"));
    for (const c of bed.clusters) {
      assert.ok(
        controllers.some((n) => n.cluster === c),
        `no controller in ${c}`,
      );
      assert.ok(
        brokers.some((n) => n.cluster === c),
        `no broker in ${c}`,
      );
    }
    const b = bed;
    const q = await eventually(
      "every broker registered with the quorum",
      async () => {
        const s = await quorumStatus(b, "west");
        return s.observers.length === brokers.length ? s : undefined;
      },
      120,
      1000,
    );
    assert.deepEqual(q.voters.map((v) => v.id).sort(), controllers.map((n) => n.id).sort());
    assert.ok(
      controllers.some((n) => n.id === q.leaderId),
      `leader ${q.leaderId} is not a controller`,
    );
    assert.deepEqual(
      q.observers,
      brokers.map((n) => n.id).sort((x, y) => x - y),
    );
  });

  test("a topic created with the defaults has one replica in each cluster", async () => {
    assert.ok(bed);
    await assertRackAware(bed, "defaults");
  });

  test("no acknowledged message is lost or duplicated while a whole cluster is killed", async () => {
    assert.ok(bed);
    const b = bed;
    await createTopic(b, "east", "orders", 6);
    await eventually("orders has leaders", async () => {
      const p = await describeTopic(b, "east", "orders");
      return p.length === 6 && p.every((x) => x.leader >= 0) ? true : undefined;
    });
    const producer = new NumberedProducer(b, "east", "orders", 12000, 600);
    try {
      await eventually(
        "the stream is acknowledged",
        () => {
          if (producer.failure) throw new Error(producer.failure);
          return producer.acks.length >= 2000 ? true : undefined;
        },
        120,
      );
      // The victim holds a controller and leads partitions: losing it must cost a pause, not data.
      const killedAt = Date.now();
      await b.kill("west");
      log(`killed west after ${producer.acks.length} acknowledgements`);
      const before = producer.acks.length;
      await eventually(
        "acknowledgements continue on every partition without the killed cluster",
        () => {
          const after = new Set(
            producer.acks.filter((a) => a.at > killedAt).map((a) => a.partition),
          );
          return after.size === 6 ? true : undefined;
        },
        180,
      );
      const resumed = producer.acks.find((a, i) => i >= before && a.at > killedAt);
      log(
        `first acknowledgement after the kill came ${((resumed?.at ?? killedAt) - killedAt) / 1000}s later`,
      );
      await producer.finished();
    } finally {
      producer.stop();
    }
    assert.deepEqual(producer.errors, [], "the producer gave up on messages");
    assert.equal(producer.acks.length, 12000, "every message acknowledged");

    // Read back while the cluster is still gone: every acknowledged value, exactly once.
    const consumed = await consumeAll(b, "east", "orders");
    const acked = producer.acks.map((a) => a.value);
    assert.equal(new Set(consumed).size, consumed.length, "a message was read twice");
    assert.deepEqual(checksum(consumed), checksum(acked));

    // The cluster returns: its nodes rejoin and every replica is back in sync.
    await b.restart("west");
    const rack = racks(b);
    await eventually(
      "every partition has all three replicas in sync again",
      async () => {
        const parts = await describeTopic(b, "east", "orders");
        return parts.length === 6 && parts.every((p) => p.isr.length === 3) ? parts : undefined;
      },
      240,
      2000,
    );
    const q = await quorumStatus(b, "east");
    const westController = b.rendered.nodes.find(
      (n) => n.cluster === "west" && n.roles.includes("controller"),
    );
    assert.ok(
      q.voters.some((v) => v.id === westController?.id),
      "the west controller is a voter",
    );
    assert.ok(
      q.observers.some((id) => rack.get(id) === "west"),
      "the west broker registered again",
    );
  });
});

describe("dynamic quorum (controller.quorum.bootstrap.servers, KIP-853)", () => {
  let bed: KafkaBed | undefined;
  after(async () => {
    await bed?.stop();
  });

  test("the quorum forms from the bootstrap controllers, each voter with its directory id", async () => {
    bed = await KafkaBed.start({ claim: claim("dynamic"), providerConfigs, log });
    const b = bed;
    const controllers = b.rendered.nodes.filter((n) => n.roles.includes("controller"));
    for (const n of b.rendered.nodes) {
      const config = n.files["server.config"] ?? "";
      assert.match(config, /^controller\.quorum\.bootstrap\.servers=/m);
      assert.doesNotMatch(config, /^controller\.quorum\.voters=/m);
    }
    const q = await eventually(
      "every broker registered with the quorum",
      async () => {
        const s = await quorumStatus(b, "north");
        return s.observers.length === 3 ? s : undefined;
      },
      120,
      1000,
    );
    assert.deepEqual(q.voters.map((v) => v.id).sort(), controllers.map((n) => n.id).sort());
    assert.ok(
      q.voters.every((v) => v.directoryId),
      "voters without directory ids: a static quorum",
    );
    await assertRackAware(b, "defaults");
  });
});
