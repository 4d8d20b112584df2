/**
 * Real Apache Kafka through the whole path (devbed/kafka/stretch-bed.ts): a
 * claim applied to the central API server, composed by the engine and the
 * function, materialized by the provider in three remote API servers, pods
 * created by the Strimzi player and run as Kafka processes by each cluster's
 * node agent. One controller and one broker in each cluster, for both quorum
 * modes: the claim is Ready only once Kafka runs, topics created with the
 * defaults get one replica per cluster, and an idempotent acks=all stream
 * loses nothing while a whole cluster (API server and Kafka) is killed and
 * comes back.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { after, describe, test } from "node:test";
import type { ClusterStatus, KafkaLive } from "../../apis/index.ts";
import type { KubeObject } from "../../controller/kube/dynamic.ts";
import { claimStatus as claimStatusText } from "../../controller/cli/status.ts";
import { eventually } from "../../devbed/eventually.ts";
import { KafkaStretchBed } from "../../devbed/kafka/stretch-bed.ts";
import { threeClusterClaim } from "../kafka/claims.ts";
import {
  checksum,
  consumeAll,
  createTopicWithLeaders,
  describeTopic,
  NumberedProducer,
  quorumStatus,
} from "../kafka/proofs.ts";

const log = (m: string): void => {
  console.log(`[kafka] ${m}`);
};

function claim(mode: "static" | "dynamic"): KubeObject {
  const c = threeClusterClaim(`proof-${mode}`, mode);
  (c["spec"] as Record<string, unknown>)["writeConnectionSecretToRef"] = {
    name: `proof-${mode}-kafka`,
  };
  return c;
}

/** Broker id -> the cluster it runs in. */
function racks(bed: KafkaStretchBed): Map<number, string> {
  return new Map(bed.nodes.map((n) => [n.id, n.cluster]));
}

async function assertQuorum(bed: KafkaStretchBed, asked: string): Promise<void> {
  const controllers = bed.nodes.filter((n) => n.roles.includes("controller"));
  const brokers = bed.nodes.filter((n) => n.roles.includes("broker"));
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
  // The claim is Ready: every pod passed Strimzi's readiness check, so every
  // broker is RUNNING, which it is only once registered and unfenced.
  const q = await quorumStatus(bed, asked);
  assert.deepEqual(q.voters.map((v) => v.id).sort(), controllers.map((n) => n.id).sort());
  assert.ok(
    controllers.some((n) => n.id === q.leaderId),
    `leader ${q.leaderId} is not a controller`,
  );
  assert.deepEqual(
    q.observers,
    brokers.map((n) => n.id).sort((x, y) => x - y),
  );
}

async function assertRackAware(bed: KafkaStretchBed, topic: string): Promise<void> {
  const parts = await createTopicWithLeaders(bed, "east", topic, 6);
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

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

interface ClaimStatus extends KubeObject {
  status?: { conditions?: Condition[]; clusters?: ClusterStatus[]; kafka?: { live?: KafkaLive } };
}

async function claimStatus(bed: KafkaStretchBed): Promise<ClaimStatus["status"]> {
  const c = await bed.central.find<ClaimStatus>(
    bed.claim.apiVersion,
    bed.claim.kind,
    bed.claim.metadata.name ?? "",
    bed.claim.metadata.namespace,
  );
  return c?.status;
}

async function claimCondition(bed: KafkaStretchBed, type: string): Promise<Condition | undefined> {
  return (await claimStatus(bed))?.conditions?.find((x) => x.type === type);
}

/** The provider's Kafka metrics, as Prometheus would scrape them. */
async function kafkaMetrics(bed: KafkaStretchBed): Promise<string> {
  const text = await bed.controller.provider.metrics.registry.metrics();
  return text
    .split("\n")
    .filter((l) => l.startsWith("stretchkafka_kafka_"))
    .join("\n");
}

/**
 * SIGKILLs every Kafka node of west and its API server under an idempotent
 * acks=all load: nothing acknowledged is lost or duplicated, the claim says
 * west is gone, and once west is back its nodes rejoin and every replica is
 * in sync again.
 */
async function zeroLoss(bed: KafkaStretchBed, topic: string): Promise<void> {
  await createTopicWithLeaders(bed, "east", topic, 6);
  const producer = new NumberedProducer(bed, "east", topic, 12000, 600);
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
    await bed.stopCluster("west");
    log(`killed west (API server and Kafka) after ${producer.acks.length} acknowledgements`);
    await eventually(
      "acknowledgements continue on every partition without west",
      () => {
        const after = new Set(producer.acks.filter((a) => a.at > killedAt).map((a) => a.partition));
        return after.size === 6 ? true : undefined;
      },
      180,
    );
    const degraded = await eventually(
      "the claim says west is gone",
      async () => {
        const d = await claimCondition(bed, "Degraded");
        return d?.status === "True" && d.message?.includes("west") ? d : undefined;
      },
      120,
    );
    log(`claim Degraded: ${degraded.message ?? ""}`);
    // What was last seen of west is reported as such, never as ready.
    const westStatus = await eventually("the claim reports west's pods as last seen", async () => {
      const w = (await claimStatus(bed))?.clusters?.find((c) => c.name === "west");
      return w?.reachable === false && w.unreachableSince ? w : undefined;
    });
    assert.equal(westStatus.ready, false);
    assert.equal(westStatus.pods?.ready, undefined, "west's pods counted as ready");
    assert.ok((westStatus.pods?.lastSeen?.ready ?? 0) > 0, "west's pods as last seen");
    const ready = await claimCondition(bed, "Ready");
    assert.equal(ready?.status, "False");
    assert.equal(ready.reason, "ClusterUnavailable", "Ready names the outage");
    const shown = await claimStatusText(
      bed.central,
      bed.claim.metadata.name ?? "",
      bed.claim.metadata.namespace ?? "",
    );
    log(shown);
    const westLine = shown.split("\n").find((l) => / west +✗ reachable/.test(l)) ?? "";
    assert.match(westLine, /pods \?\/\d+ ready \(\d+\/\d+ when last seen, before \S+\)/);
    assert.match(shown, /as last seen: \d+\/\d+ pods ready/, "west's pools as last seen");
    // Kafka itself, asked by the provider: west's broker fenced, its voter behind.
    const live = await eventually(
      "the claim's live status shows west gone",
      async () => {
        const l = (await claimStatus(bed))?.kafka?.live;
        const westBroker = l?.brokers?.find((b) => b.cluster === "west");
        const westVoter = l?.quorum?.voters?.find((v) => v.cluster === "west");
        return l?.reachable && westBroker?.state === "Fenced" && westVoter?.caughtUp === false
          ? l
          : undefined;
      },
      120,
    );
    assert.ok(
      live.brokers?.filter((b) => b.cluster !== "west").every((b) => b.state === "Registered"),
      "the other clusters' brokers stay registered",
    );
    const quorumRisk = await claimCondition(bed, "QuorumAtRisk");
    assert.equal(
      quorumRisk?.status,
      "True",
      "with west gone, losing one more cluster loses the quorum",
    );
    assert.match(quorumRisk.message ?? "", /behind: \d+ in west/);
    const metrics = await kafkaMetrics(bed);
    assert.match(
      metrics,
      new RegExp(
        `stretchkafka_kafka_brokers\\{composite="${bed.claim.metadata.name ?? ""}-[^"]+",cluster="west",state="Fenced"\\} 1`,
      ),
    );
    assert.match(
      metrics,
      /stretchkafka_kafka_quorum_voters\{[^}]*cluster="west",caught_up="false"\} 1/,
    );
    await producer.finished();
  } finally {
    producer.stop();
  }
  assert.deepEqual(producer.errors, [], "the producer gave up on messages");
  assert.equal(producer.acks.length, 12000, "every message acknowledged");

  // Read back while west is still gone: every acknowledged value, exactly once.
  const consumed = await consumeAll(bed, "east", topic);
  const acked = producer.acks.map((a) => a.value);
  assert.equal(new Set(consumed).size, consumed.length, "a message was read twice");
  assert.deepEqual(checksum(consumed), checksum(acked));

  // West returns: its API server with its data, its pods' containers restarted on their volumes.
  await bed.startCluster("west");
  await eventually(
    "every partition has all three replicas in sync again",
    async () => {
      const parts = await describeTopic(bed, "east", topic);
      return parts.length === 6 && parts.every((p) => p.isr.length === 3) ? parts : undefined;
    },
    240,
    2000,
  );
  await bed.waitReady(180);
  await eventually(
    "the claim's live status shows every broker registered and every voter caught up again",
    async () => {
      const l = (await claimStatus(bed))?.kafka?.live;
      return l?.brokers?.every((b) => b.state === "Registered") &&
        l.quorum?.voters?.every((v) => v.caughtUp)
        ? true
        : undefined;
    },
    120,
  );
  const rack = racks(bed);
  const q = await quorumStatus(bed, "east");
  const westController = bed.nodes.find(
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
}

describe("static quorum (controller.quorum.voters), TLS between all nodes", () => {
  let bed: KafkaStretchBed | undefined;
  after(async () => {
    await bed?.stop();
  });

  test("the claim is Ready once Kafka runs: a controller and a broker in each cluster, quorum formed", async () => {
    bed = await KafkaStretchBed.start({ claim: claim("static"), latencyMs: 5, log });
    await assertQuorum(bed, "west");
    const conn = await bed.connection();
    assert.match(
      conn["bootstrap.servers"] ?? "",
      /^proof-static-kafka-bootstrap\.kafka\.svc\.clusterset\.local:9092$/,
    );
  });

  test("a client uses the connection Secret's bootstrap address", async () => {
    assert.ok(bed);
    const b = bed;
    const bootstrap = (await b.connection())["bootstrap.servers"] ?? "";
    const { stdout } = await b.tool("north", "org.apache.kafka.tools.BrokerApiVersionsCommand", [
      "--bootstrap-server",
      bootstrap,
    ]);
    for (const n of b.nodes.filter((x) => x.roles.includes("broker"))) {
      assert.match(
        stdout,
        new RegExp(`${n.host.replaceAll(".", "\\.")}:9092 \\(id: ${n.id} rack: ${n.cluster}`),
      );
    }
  });

  test("a topic created with the defaults has one replica in each cluster", async () => {
    assert.ok(bed);
    await assertRackAware(bed, "defaults");
  });

  test("the claim shows Kafka's own view: quorum, brokers, partitions, features; nothing at risk", async () => {
    assert.ok(bed);
    const b = bed;
    const live = await eventually("the provider has asked Kafka", async () => {
      const l = (await claimStatus(b))?.kafka?.live;
      return l?.reachable && (l.partitions?.total ?? 0) > 0 ? l : undefined;
    });
    const ids = (role: string): number[] =>
      b.nodes.filter((n) => n.roles.includes(role)).map((n) => n.id);
    const voters = live.quorum?.voters ?? [];
    assert.ok(
      voters.every((v) => v.caughtUp),
      JSON.stringify(live.quorum),
    );
    assert.deepEqual(
      voters.map((v) => v.id),
      ids("controller"),
    );
    assert.deepEqual(
      live.brokers?.map((x) => [x.id, x.state]),
      ids("broker").map((id) => [id, "Registered"]),
    );
    assert.ok((live.features?.["metadata.version"] ?? 0) > 0, "metadata.version is finalized");
    assert.equal(live.partitions?.offline, 0);
    assert.equal((await claimCondition(b, "DataAtRisk"))?.status, "False");
    assert.equal((await claimCondition(b, "QuorumAtRisk"))?.status, "False");
    const status = await bed.controller.provider.metrics.registry.metrics();
    assert.match(status, /stretchkafka_kafka_reachable\{composite="proof-static-[^"]+"\} 1/);
  });

  test("a topic created with replication factor 1 turns DataAtRisk True naming it, and False once reassigned", async () => {
    assert.ok(bed);
    const b = bed;
    await b.tool("east", "org.apache.kafka.tools.TopicCommand", [
      "--bootstrap-server",
      b.bootstrap("east"),
      "--create",
      "--topic",
      "lonely",
      "--partitions",
      "1",
      "--replication-factor",
      "1",
    ]);
    const risk = await eventually("DataAtRisk names lonely", async () => {
      const c = await claimCondition(b, "DataAtRisk");
      return c?.status === "True" && c.message?.includes("lonely") ? c : undefined;
    });
    log(`DataAtRisk: ${risk.message ?? ""}`);
    assert.match(
      risk.message ?? "",
      /lonely \(.*losing \w+: 1 of 1 partitions would lose every replica/,
    );
    assert.match(
      await kafkaMetrics(b),
      /stretchkafka_kafka_data_at_risk_topics\{composite="proof-static-[^"]+"\} 1/,
    );

    // The fix a person would make: one replica in each cluster.
    const brokers = b.nodes.filter((n) => n.roles.includes("broker")).map((n) => n.id);
    const plan = b.clientConfig("lonely-reassignment.json", {});
    writeFileSync(
      plan,
      JSON.stringify({
        version: 1,
        partitions: [{ topic: "lonely", partition: 0, replicas: brokers }],
      }),
    );
    await b.tool("east", "org.apache.kafka.tools.reassign.ReassignPartitionsCommand", [
      "--bootstrap-server",
      b.bootstrap("east"),
      "--reassignment-json-file",
      plan,
      "--execute",
    ]);
    await eventually("DataAtRisk False again", async () => {
      const c = await claimCondition(b, "DataAtRisk");
      return c?.status === "False" ? c : undefined;
    });
  });

  test("a deleted broker pod stops gracefully, comes back on its volume, and catches up", async () => {
    assert.ok(bed);
    const b = bed;
    const node = b.nodes.find((n) => n.cluster === "west" && n.roles.includes("broker"));
    assert.ok(node);
    const west = b.remotes.get("west");
    assert.ok(west);
    const before = await west.get("v1", "Pod", node.pod, b.namespace);
    await west.delete("v1", "Pod", node.pod, b.namespace);
    // The kubelet's part: SIGTERM, a controlled shutdown, then the pod object goes.
    const oldLog = b.kafka.podLog("west", before.metadata.uid ?? "");
    await eventually("the old Kafka shut down cleanly", () =>
      /shut down completed/.test(readFileSync(oldLog, "utf8")) ? true : undefined,
    );
    const after = await eventually(
      "Strimzi's player created the pod again and it is Ready",
      async () => {
        const p = await west.find<KubeObject & { status?: { conditions?: Condition[] } }>(
          "v1",
          "Pod",
          node.pod,
          b.namespace,
        );
        const ready = p?.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
        return p && p.metadata.uid !== before.metadata.uid && ready ? p : undefined;
      },
    );
    const newLog = b.kafka.podLog("west", after.metadata.uid ?? "");
    await eventually("the new Kafka has loaded its logs", () =>
      /Loaded \d+ logs in/.test(readFileSync(newLog, "utf8")) ? true : undefined,
    );
    const started = readFileSync(newLog, "utf8");
    // The volume was kept: the start script's format step found it formatted, and Kafka its partitions.
    assert.match(started, /already formatted/);
    assert.match(started, /Loaded [1-9]\d* logs in/);
    await eventually(
      "every replica of defaults in sync again",
      async () => {
        const parts = await describeTopic(b, "east", "defaults");
        return parts.length > 0 && parts.every((p) => p.isr.length === 3) ? true : undefined;
      },
      120,
    );
    await b.waitReady(120);
  });

  test("no acknowledged message is lost or duplicated while a whole cluster is killed", async () => {
    assert.ok(bed);
    await zeroLoss(bed, "orders");
  });
});

describe("dynamic quorum (controller.quorum.bootstrap.servers, KIP-853)", () => {
  let bed: KafkaStretchBed | undefined;
  after(async () => {
    await bed?.stop();
  });

  test("the quorum forms from the bootstrap controllers, each voter with its directory id", async () => {
    bed = await KafkaStretchBed.start({ claim: claim("dynamic"), log });
    await assertQuorum(bed, "north");
    const q = await quorumStatus(bed, "north");
    assert.ok(
      q.voters.every((v) => v.directoryId),
      "voters without directory ids: a static quorum",
    );
    await assertRackAware(bed, "defaults");
  });

  test("no acknowledged message is lost or duplicated while a whole cluster is killed", async () => {
    assert.ok(bed);
    await zeroLoss(bed, "orders");
  });
});
