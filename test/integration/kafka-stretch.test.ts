/**
 * Real Apache Kafka through the whole path (devbed/kafka/stretch-bed.ts): a
 * claim applied to the central API server, composed by the engine and the
 * function, materialized by the provider in three remote API servers, pods
 * created by the Strimzi player and run as Kafka processes by each cluster's
 * node agent. One controller and one broker in each cluster, for both quorum
 * modes: the claim is Ready only once Kafka runs, topics created with the
 * defaults get one replica per cluster, and an idempotent acks=all stream
 * loses nothing while a whole cluster (API server and Kafka) is killed and
 * comes back. Kubernetes' own disruptions, with the real kube-scheduler,
 * kubectl and the API server's eviction API and PodDisruptionBudgets: a
 * Kafka pod's eviction is refused until the provider releases it; a node
 * drain waits while moving its pod would leave a partition below min ISR
 * (replication from one cluster to another cut), says so, and finishes once
 * it would not, the pod stopped gracefully and back on another node on its
 * own volume; a cordon alone is released and withdrawn; drains in two
 * clusters at once are served one pod at a time; a stream running through
 * the drains loses nothing. On the dynamic quorum, the central cluster lost
 * for good and rebuilt under a running stream: the claim from Git alone
 * changes nothing and says to restore, the backup restored brings the claim
 * back onto the same Kafka (same composite, cluster id, node ids, connection
 * Secret, pods), and the stream loses nothing.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { after, describe, test } from "node:test";
import type { ClusterStatus, KafkaLive } from "../../apis/index.ts";
import type { KubeObject } from "../../controller/kube/dynamic.ts";
import { claimStatus as claimStatusText } from "../../controller/cli/status.ts";
import { eventually } from "../../devbed/eventually.ts";
import { KafkaStretchBed } from "../../devbed/kafka/stretch-bed.ts";
import { cliArgs } from "../../devbed/provider-bed.ts";
import { threeClusterClaim } from "../kafka/claims.ts";
import {
  assertNothingLost,
  checksum,
  consumeAll,
  createTopicWithLeaders,
  describeTopic,
  drainArgs,
  NumberedProducer,
  quorumStatus,
  RollWatch,
  startStream,
} from "../kafka/proofs.ts";

const run = promisify(execFile);

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
  status?: {
    conditions?: Condition[];
    clusters?: ClusterStatus[];
    kafka?: { live?: KafkaLive };
    clusterId?: string;
    nodeIds?: unknown;
  };
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
  assert.equal(
    new Set(consumed).size,
    consumed.length,
    "a message was written twice (the same value at two offsets)",
  );
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

/** Where a Kafka pod runs now: its node, uid and whether it is released for eviction. */
async function placement(
  bed: KafkaStretchBed,
  cluster: string,
  pod: string,
): Promise<{ node: string; uid: string; released: boolean }> {
  const p = await bed.remotes
    .get(cluster)
    ?.get<KubeObject & { spec?: { nodeName?: string } }>("v1", "Pod", pod, bed.namespace);
  assert.ok(p?.spec?.nodeName, `pod ${pod} in ${cluster} is not placed on a node`);
  return {
    node: p.spec.nodeName,
    uid: p.metadata.uid ?? "",
    released: p.metadata.labels?.["stretchkafka.dev/eviction"] === "allowed",
  };
}

/** The Kafka pods (node ids) of a cluster on a node. */
async function podsOn(bed: KafkaStretchBed, cluster: string, node: string): Promise<number[]> {
  const out: number[] = [];
  for (const n of bed.nodes.filter((x) => x.cluster === cluster))
    if ((await placement(bed, cluster, n.pod)).node === node) out.push(n.id);
  return out.sort((a, b) => a - b);
}

/** Until the watch has seen each of `ids` created again, and every pod and the claim are Ready. */
async function movedBack(bed: KafkaStretchBed, watch: RollWatch, ids: number[]): Promise<void> {
  await eventually(
    `Kafka nodes ${ids.join(", ")} created again elsewhere`,
    () => (ids.every((id) => watch.restarted.includes(id)) ? true : undefined),
    300,
    500,
  );
  await watch.allUp(300);
}

/**
 * Every distinct `node drain:` line `stretch-kafka status` prints, sampled
 * every half second until stopped.
 */
function drainStatusLines(bed: KafkaStretchBed): { lines: Set<string>; stop(): Promise<void> } {
  const lines = new Set<string>();
  const state = { stopped: false };
  const loop = (async () => {
    while (!state.stopped) {
      // A sample the central API server did not answer is only a sample missed.
      const text = await claimStatusText(
        bed.central,
        bed.claim.metadata.name ?? "",
        bed.claim.metadata.namespace ?? "",
      ).catch(() => "");
      for (const l of text.split("\n")) if (l.includes("node drain:")) lines.add(l.trim());
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return {
    lines,
    stop: async () => {
      state.stopped = true;
      await loop;
    },
  };
}

describe("static quorum (controller.quorum.voters), TLS between all nodes", () => {
  let bed: KafkaStretchBed | undefined;
  let drainStream: NumberedProducer | undefined;
  after(async () => {
    drainStream?.stop();
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

  test("a Kafka pod's eviction is refused by its budget; kubectl drain of its node waits while moving it would leave a partition below min ISR, says so, and finishes once it would not", async () => {
    assert.ok(bed);
    const b = bed;
    drainStream = await startStream(b, "drains", 6);
    await b.kafka.readNodes();
    const broker = b.nodes.find((n) => n.cluster === "east" && n.roles.includes("broker"));
    assert.ok(broker);
    const east = b.remotes.get("east");
    assert.ok(east);
    // The budget covers east's Kafka pods and allows no eviction.
    await eventually("east's PodDisruptionBudget counts its Kafka pods", async () => {
      const pdb = await east.find<KubeObject & { status?: Record<string, number> }>(
        "policy/v1",
        "PodDisruptionBudget",
        "proof-static-kafka",
        b.namespace,
      );
      const st = pdb?.status;
      return st?.["currentHealthy"] === 2 &&
        st["desiredHealthy"] === 2 &&
        st["disruptionsAllowed"] === 0
        ? true
        : undefined;
    });
    const eviction = b.clientFile(
      "eviction.json",
      JSON.stringify({
        apiVersion: "policy/v1",
        kind: "Eviction",
        metadata: { name: broker.pod, namespace: b.namespace },
      }),
    );
    const evicted = await (
      await b.kubectl("east", [
        "create",
        "--raw",
        `/api/v1/namespaces/${b.namespace}/pods/${broker.pod}/eviction`,
        "-f",
        eviction,
      ])
    ).done;
    assert.notEqual(evicted.code, 0, "an eviction nobody released was allowed");
    assert.match(evicted.output, /disruption budget/);

    const before = await placement(b, "east", broker.pod);
    const moving = await podsOn(b, "east", before.node);
    // West's brokers can no longer fetch from east: Kafka drops west's
    // replicas of the partitions east leads from their ISR, leaving two in
    // sync, and moving east's broker would leave one.
    await b.kafka.network.cut("west", "east", 9091);
    let mended = false;
    const mend = async (): Promise<void> => {
      if (!mended) await b.kafka.network.cut("west", "east", 9091, false);
      mended = true;
    };
    const status = drainStatusLines(b);
    try {
      await eventually(
        `a partition led by broker ${broker.id} has lost west's replica from its ISR`,
        async () => {
          const parts = await describeTopic(b, "north", "drains");
          return parts.some((p) => p.leader === broker.id && p.isr.length === 2) ? true : undefined;
        },
        180,
        1000,
      );
      const watch = await RollWatch.start(b, "drains");
      try {
        const drain = await b.kubectl("east", drainArgs(before.node));
        const waiting = await watch.during(
          eventually(
            "stretch-kafka status says the move waits for min ISR",
            () =>
              [...status.lines].find(
                (l) =>
                  l.includes(`moving east/${before.node}/${broker.pod} waits`) &&
                  /would leave \d+ partition\(s\) below min\.insync\.replicas/.test(l),
              ),
            180,
            500,
          ),
        );
        log(`while west was cut off: ${waiting}`);
        // It decided to wait: the pod is where it was, not released, and
        // kubectl goes on being refused.
        const held = await placement(b, "east", broker.pod);
        assert.equal(held.uid, before.uid);
        assert.equal(held.released, false);
        const events = await b.central.list<KubeObject & { reason?: string; message?: string }>(
          "v1",
          "Event",
          {},
        );
        assert.ok(
          events.items.some(
            (e) =>
              e.reason === "DrainWaits" &&
              /below min\.insync\.replicas/.test(e.message ?? "") &&
              (e.message ?? "").includes(broker.pod),
          ),
          "a DrainWaits event names the pod and min ISR",
        );
        assert.match(
          drain.output(),
          /Cannot evict pod as it would violate the pod's disruption budget/,
        );
        await mend();
        const result = await watch.during(drain.done);
        assert.equal(result.code, 0, result.output);
        assert.match(result.output, new RegExp(`node/${before.node} drained`));
        // kubectl is done once the pod is gone; the watch goes on until it is back.
        await watch.during(movedBack(b, watch, moving));
      } finally {
        // Throws if two Kafka pods were down at once or a partition fell below 2 in sync.
        await watch.stop();
      }
      const moved = await placement(b, "east", broker.pod);
      assert.notEqual(moved.uid, before.uid, "the pod was evicted and created again");
      assert.notEqual(moved.node, before.node, "it runs on another node");
      assert.equal(moved.released, false, "created again under its budget");
      // The eviction stopped Kafka gracefully (a controlled shutdown), and on
      // the other node the pod mounted the same volume: the start script's
      // format step found it formatted, and Kafka its partitions.
      assert.match(readFileSync(b.kafka.podLog("east", before.uid), "utf8"), /shut down completed/);
      const started = readFileSync(b.kafka.podLog("east", moved.uid), "utf8");
      assert.match(started, /already formatted/);
      assert.match(started, /Loaded [1-9]\d* logs in/);
      assert.deepEqual(watch.restarted.sort(), moving, "only the pods of the drained node moved");
      // A release lasts until kubectl's next eviction attempt (at most 5 s),
      // which status may not reach in time; the eviction that followed it is
      // shown until the pod is back and Ready.
      const evictedLine = [...status.lines].find(
        (l) =>
          l.includes(`east/${before.node}/${broker.pod} evicted since`) &&
          l.includes("after its release at"),
      );
      assert.ok(
        evictedLine,
        `status never said the pod was evicted after its release: ${[...status.lines].join(" | ")}`,
      );
      log(`while it moved: ${evictedLine}`);
    } finally {
      await mend();
      await status.stop();
      // Uncordoned whatever happened above: the tests after this one drain other nodes.
      const uncordoned = await (await b.kubectl("east", ["uncordon", before.node])).done;
      assert.equal(uncordoned.code, 0, uncordoned.output);
    }
    await b.waitReady(180);
  });

  test("a cordon alone releases a pod for eviction; uncordoned, the release is withdrawn and nothing restarts", async () => {
    assert.ok(bed);
    const b = bed;
    await b.kafka.readNodes();
    const broker = b.nodes.find((n) => n.cluster === "east" && n.roles.includes("broker"));
    assert.ok(broker);
    const before = await placement(b, "east", broker.pod);
    const cordoned = await (await b.kubectl("east", ["cordon", before.node])).done;
    assert.equal(cordoned.code, 0, cordoned.output);
    await eventually(`pod ${broker.pod} released for eviction`, async () =>
      (await placement(b, "east", broker.pod)).released ? true : undefined,
    );
    const uncordoned = await (await b.kubectl("east", ["uncordon", before.node])).done;
    assert.equal(uncordoned.code, 0, uncordoned.output);
    await eventually("the release is withdrawn, saying why", async () => {
      const events = await b.central.list<KubeObject & { reason?: string; message?: string }>(
        "v1",
        "Event",
        {},
      );
      const said = events.items.some(
        (e) =>
          e.reason === "EvictionReleaseWithdrawn" &&
          (e.message ?? "").includes(broker.pod) &&
          /no longer cordoned/.test(e.message ?? ""),
      );
      return said && !(await placement(b, "east", broker.pod)).released ? true : undefined;
    });
    const after = await placement(b, "east", broker.pod);
    assert.equal(after.uid, before.uid, "the pod was not restarted");
    assert.equal(after.node, before.node);
  });

  test("drains of nodes in two clusters at once are served one Kafka pod at a time; nothing the stream acknowledged is lost", async () => {
    assert.ok(bed);
    assert.ok(drainStream);
    const b = bed;
    await b.kafka.readNodes();
    const targets = await Promise.all(
      ["west", "north"].map(async (cluster) => {
        const broker = b.nodes.find((n) => n.cluster === cluster && n.roles.includes("broker"));
        assert.ok(broker);
        const at = await placement(b, cluster, broker.pod);
        return { cluster, broker, at, moving: await podsOn(b, cluster, at.node) };
      }),
    );
    const watch = await RollWatch.start(b, "drains");
    const status = drainStatusLines(b);
    try {
      const drains = await Promise.all(
        targets.map((t) => b.kubectl(t.cluster, drainArgs(t.at.node))),
      );
      const results = await watch.during(Promise.all(drains.map((d) => d.done)));
      for (const r of results) {
        assert.equal(r.code, 0, r.output);
        assert.match(r.output, /drained/);
      }
      await watch.during(
        movedBack(
          b,
          watch,
          targets.flatMap((t) => t.moving),
        ),
      );
    } finally {
      // Throws if two Kafka pods were down at once or a partition fell below 2 in sync.
      await watch.stop();
      await status.stop();
    }
    assert.equal(watch.mostNotReady, 1, "one Kafka pod down at a time");
    assert.deepEqual(
      [...watch.restarted].sort((x, y) => x - y),
      targets.flatMap((t) => t.moving).sort((x, y) => x - y),
    );
    assert.ok(
      [...status.lines].some(
        (l) =>
          l.includes(`west/${targets[0]?.at.node ?? ""}/`) &&
          l.includes(`north/${targets[1]?.at.node ?? ""}/`),
      ),
      `status never listed both drains: ${[...status.lines].join(" | ")}`,
    );
    for (const t of targets) {
      const moved = await placement(b, t.cluster, t.broker.pod);
      assert.notEqual(moved.node, t.at.node);
      const r = await (await b.kubectl(t.cluster, ["uncordon", t.at.node])).done;
      assert.equal(r.code, 0, r.output);
    }
    await b.waitReady(180);
    await assertNothingLost(b, drainStream, "drains");
  });

  test("no acknowledged message is lost or duplicated while a whole cluster is killed", async () => {
    assert.ok(bed);
    await zeroLoss(bed, "orders");
  });
});

/** Every Kafka pod of the claim in the remote clusters: name and uid (a restart changes it). */
async function kafkaPods(b: KafkaStretchBed): Promise<string[]> {
  const out: string[] = [];
  for (const [cluster, r] of b.remotes) {
    for (const p of (await r.list("v1", "Pod", { namespace: b.namespace })).items)
      out.push(`${cluster}/${p.metadata.name ?? ""}/${p.metadata.uid ?? ""}`);
  }
  return out.sort();
}

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

  test("the central cluster lost and rebuilt: Git alone changes nothing and says to restore; the backup restored adopts the running Kafka with no pod restarted", async () => {
    assert.ok(bed);
    const b = bed;
    const stream = await startStream(b, "central-loss", 6);
    const ns = b.claim.metadata.namespace ?? "default";
    const name = b.claim.metadata.name ?? "";
    const before = await b.central.get<ClaimStatus & { spec: { resourceRef: { name: string } } }>(
      b.claim.apiVersion,
      b.claim.kind,
      name,
      ns,
    );
    const secret = await b.connection();
    const pods = await kafkaPods(b);
    const { stdout } = await run(
      process.execPath,
      cliArgs("backup", "--kubeconfig", b.centralCluster.kubeconfigPath),
      { maxBuffer: 16 * 1024 * 1024 },
    );
    const file = b.clientFile("backup.yaml", stdout);
    const acksAtLoss = stream.acks.length;
    await b.replaceCentral();
    log(`central cluster replaced by an empty one after ${acksAtLoss} acknowledgements`);

    // The claim from Git alone: a new composite, whose managed resources find
    // every remote object managed by one this central cluster does not have.
    await b.central.apply(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
      { fieldManager: "test" },
    );
    await b.central.apply(b.claim, { fieldManager: "test" });
    const degraded = await eventually(
      "the claim says Kafka runs under managed resources this central cluster does not have",
      async () => {
        const d = (await claimStatus(b))?.conditions?.find((c) => c.type === "Degraded");
        // Every cluster named, once each has been looked at.
        return d?.reason === "NotRestored" && / cluster east, west, north /.test(d.message ?? "")
          ? d
          : undefined;
      },
      120,
    );
    assert.match(degraded.message ?? "", /stretch-kafka restore/);
    assert.deepEqual(await kafkaPods(b), pods, "no Kafka pod restarted, none added");
    await b.central.delete(b.claim.apiVersion, b.claim.kind, name, ns);
    await eventually(
      "the claim from Git alone and everything it composed are gone",
      async () => {
        const left = await b.central.list(b.claim.apiVersion, "XStretchKafka");
        const claimLeft = await b.central.find(b.claim.apiVersion, b.claim.kind, name, ns);
        return left.items.length === 0 && !claimLeft ? true : undefined;
      },
      120,
    );
    assert.deepEqual(await kafkaPods(b), pods, "deleting it restarted or removed no pod");

    // The backup restored: the same composite, so the same managed resources.
    const restored = await run(
      process.execPath,
      cliArgs(
        "restore",
        "-f",
        file,
        "--composer",
        "standalone",
        "--kubeconfig",
        b.centralCluster.kubeconfigPath,
      ),
    );
    log(restored.stdout.trim());
    await b.waitReady(180);
    const after = await b.central.get<ClaimStatus & { spec: { resourceRef: { name: string } } }>(
      b.claim.apiVersion,
      b.claim.kind,
      name,
      ns,
    );
    assert.equal(after.spec.resourceRef.name, before.spec.resourceRef.name);
    assert.equal(after.status?.clusterId, before.status?.clusterId);
    assert.deepEqual(after.status?.nodeIds, before.status?.nodeIds);
    assert.deepEqual(await kafkaPods(b), pods, "no Kafka pod restarted");
    assert.deepEqual(await b.connection(), secret, "the same connection Secret values");
    // The provider reaches Kafka again with a certificate of the restored CA.
    await eventually("Kafka's own view is back on the claim", async () =>
      (await claimStatus(b))?.kafka?.live?.reachable ? true : undefined,
    );
    assert.ok(stream.acks.length > acksAtLoss, "the stream went on");
    await assertNothingLost(b, stream, "central-loss");
  });
});
