/**
 * Day-2 changes on real Kafka through the whole path (devbed/kafka/stretch-bed.ts),
 * with an idempotent acks=all producer running throughout: removing brokers
 * is refused while they hold replicas, drained when the claim says so (the
 * replicas move with one replica per cluster kept, the broker is removed and
 * unregistered), a chosen node id goes and a pinned one comes and takes
 * its share of replicas on its own, a KafkaRebalance of a skewed topic is
 * proposed, approved, stopped mid-move and carried out, a cluster left
 * without brokers gets a replica of every partition back once brokers return, a configuration change rolls every node
 * with Kafka in sync before each restart, even across a restart of the
 * stretch-kafka controller, and a cluster evacuated for maintenance is stopped with acknowledgements pausing
 * only briefly; nothing acknowledged is lost or duplicated. Once, two
 * replicas of one partition are taken down together by the test itself, to
 * show the roll watch every roll is checked with catches it.
 *
 * Three clusters, one controller and two brokers each (9 Kafka processes).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import cloneDeep from "lodash/cloneDeep.js";
import type { StretchKafkaStatus } from "../../apis/index.ts";
import type { KubeObject } from "../../controller/kube/dynamic.ts";
import { claimStatus } from "../../controller/cli/status.ts";
import { eventually } from "../../devbed/eventually.ts";
import { KafkaStretchBed } from "../../devbed/kafka/stretch-bed.ts";
import type { AdminSession, ConfigChange } from "../../controller/kafka/admin.ts";
import { threeClusterClaim } from "../kafka/claims.ts";
import {
  assertNothingLost,
  describeAll,
  describeTopic,
  NumberedProducer,
  quorumStatus,
  RollWatch,
  startStream,
} from "../kafka/proofs.ts";
import { teardown } from "../teardown.ts";

const log = (m: string): void => {
  console.log(`[day2] ${m}`);
};

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Pool {
  name: string;
  replicas: number;
  removeNodeIds?: number[];
  nextNodeIds?: number[];
}
interface Claim extends KubeObject {
  spec: Record<string, unknown> & { clusters: { name: string; nodePools: Pool[] }[] };
  status?: StretchKafkaStatus & { conditions?: Condition[] };
}

interface Rebalance extends KubeObject {
  metadata: KubeObject["metadata"] & { annotations?: Record<string, string> };
  status?: {
    state?: string;
    conditions?: Condition[];
    proposal?: {
      partitionsToMove?: number;
      bytesToMove?: number;
      estimatedSeconds?: number;
      before?: { replicaSpread?: number; leaderSpread?: number };
      after?: { replicaSpread?: number; leaderSpread?: number };
      moves?: { topic: string; from: number[]; to: number[] }[];
    };
    progress?: { partitionsToMove?: number; waitingFor?: string };
  };
}
const rebalanceApi = "stretchkafka.dev/v1alpha1";

const topic = "orders";
const partitions = 12;

describe("removing brokers on a running stretch cluster", () => {
  let bed: KafkaStretchBed;
  let producer: NumberedProducer;
  const claim = threeClusterClaim("day2", "static", 2) as Claim;

  const apply = async (edit: (c: Claim) => void): Promise<void> => {
    edit(claim);
    await bed.central.apply(cloneDeep(claim), { fieldManager: "test" });
  };
  const pool = (cluster: string, name = "brokers"): Pool => {
    const p = claim.spec.clusters
      .find((c) => c.name === cluster)
      ?.nodePools.find((x) => x.name === name);
    if (!p) throw new Error(`no pool ${cluster}/${name}`);
    return p;
  };
  const current = async (): Promise<Claim> =>
    bed.central.get<Claim>(claim.apiVersion, claim.kind, claim.metadata.name ?? "", "team-a");
  const condition = async (type: string): Promise<Condition | undefined> =>
    (await current()).status?.conditions?.find((c) => c.type === type);
  const brokersOf = (cluster: string): number[] =>
    bed.nodes
      .filter((n) => n.cluster === cluster && n.roles.includes("broker"))
      .map((n) => n.id)
      .sort((a, b) => a - b);
  const clusterOf = (id: number): string | undefined => bed.nodes.find((n) => n.id === id)?.cluster;
  /** Every broker Kafka has registered, fenced or not (kafka-cluster list-endpoints). */
  const registered = async (): Promise<number[]> => {
    const { stdout } = await bed.tool("north", "org.apache.kafka.tools.ClusterTool", [
      "list-endpoints",
      "--bootstrap-server",
      bed.bootstrap("north"),
      "--include-fenced-brokers",
    ]);
    return [...stdout.matchAll(/^(\d+)\s/gm)].map((m) => Number(m[1])).sort((a, b) => a - b);
  };
  /** Until Kafka lists no replication throttle on the producer's topic. */
  const throttleCleared = (): Promise<true> =>
    eventually(
      "the replication throttle is cleared",
      async () => {
        const { stdout } = await bed.tool("east", "kafka.admin.ConfigCommand", [
          "--bootstrap-server",
          bed.bootstrap("east"),
          "--describe",
          "--entity-type",
          "topics",
          "--entity-name",
          topic,
        ]);
        return /throttled\.replicas/.test(stdout) ? undefined : true;
      },
      120,
      2000,
    );
  /** A KafkaRebalance of team-a: read, annotated, and waited for in a state. */
  const kafkaRebalance = (name: string) => {
    const get = (): Promise<Rebalance> =>
      bed.central.get<Rebalance>(rebalanceApi, "KafkaRebalance", name, "team-a");
    const annotate = (value: string): Promise<unknown> =>
      bed.central.mergePatch(rebalanceApi, "KafkaRebalance", name, "team-a", {
        metadata: { annotations: { "stretchkafka.dev/rebalance": value } },
      });
    /** Until it is in `state` with its annotation consumed; the last status is in the failure. */
    const reaches = async (state: string, seconds = 120): Promise<Rebalance> => {
      let last: Rebalance["status"];
      try {
        return await eventually(
          `KafkaRebalance ${name} is ${state}`,
          async () => {
            const r = await get();
            last = r.status;
            const ready = r.status?.conditions?.find((c) => c.type === "Ready");
            if (r.status?.state === "NotReady")
              throw new Error(`NotReady: ${ready?.message ?? ""}`);
            return r.status?.state === state &&
              r.status.conditions?.some((c) => c.type === state && c.status === "True") &&
              r.metadata.annotations?.["stretchkafka.dev/rebalance"] === undefined
              ? r
              : undefined;
          },
          seconds,
          500,
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last)}`, {
          cause: err,
        });
      }
    };
    return { get, annotate, reaches };
  };
  /** One replica per cluster in every partition, none on `gone`. */
  const spread = async (gone: number[]): Promise<void> => {
    const parts = await describeTopic(bed, "east", topic);
    assert.equal(parts.length, partitions);
    for (const p of parts) {
      assert.ok(
        !p.replicas.some((r) => gone.includes(r)),
        `partition ${p.partition} still on ${gone.join(",")}: ${p.replicas.join(",")}`,
      );
      assert.deepEqual(
        p.replicas.map(clusterOf).sort(),
        ["east", "north", "west"],
        `partition ${p.partition} keeps one replica per cluster: ${JSON.stringify(p)}`,
      );
    }
  };

  /**
   * Kafka's refusal of every request that removes the replication throttles,
   * injected into the controller's admin sessions while set: the throttles
   * operation fails every round, and no other operation may be held up by it.
   */
  const refuse = { throttleRemoval: false };
  const refusingThrottleRemoval = (s: AdminSession): AdminSession =>
    new Proxy(s, {
      get(target, prop, receiver): unknown {
        if (prop === "alterConfigs")
          return async (changes: ConfigChange[]): Promise<void> => {
            const removal = changes.some((c) =>
              Object.entries(c.configs).some(
                ([k, v]) => k.includes("throttled") && v === undefined,
              ),
            );
            if (refuse.throttleRemoval && removal)
              throw new Error("IncrementalAlterConfigs refused (injected by the test)");
            await target.alterConfigs(changes);
          };
        const v: unknown = Reflect.get(target, prop, receiver);
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });

  before(async () => {
    bed = await KafkaStretchBed.start({
      claim: cloneDeep(claim),
      latencyMs: 5,
      log,
      kafkaSession: refusingThrottleRemoval,
    });
    producer = await startStream(bed, topic, partitions);
  });

  after(async () => {
    await teardown(
      () => {
        producer.stop();
      },
      () => bed.stop(),
    );
  });

  test("scaling a pool down is refused while the broker holds replicas, naming it; nothing is touched", async () => {
    const west = brokersOf("west");
    const victim = Math.max(...west);
    const pods = await RollWatch.pods(bed);
    await apply(() => (pool("west").replicas = 1));
    const synced = await eventually("the change is refused", async () => {
      const s = await condition("Synced");
      return s?.status === "False" && s.message?.includes("removing broker") ? s : undefined;
    });
    assert.match(
      synced.message ?? "",
      new RegExp(
        `removing broker ${victim} \\(cluster west, pool brokers\\) is refused: it holds \\d+ partition replica\\(s\\)`,
      ),
    );
    // The function refused the change: nothing of it was rendered, so nothing is removed.
    assert.deepEqual(await RollWatch.pods(bed), pods, "no pod was removed or restarted");
    assert.ok((await registered()).includes(victim));
  });

  test("with brokerRemoval Drain, its replicas move (one per cluster kept), then it is removed and unregistered, even while Kafka refuses to remove the throttles", async () => {
    const victim = Math.max(...brokersOf("west"));
    const acksBefore = producer.acks.length;
    // The throttles operation fails every round from here: the drain and the
    // unregistration must go on regardless (before, one failure ended the round).
    refuse.throttleRemoval = true;
    await apply((c) => {
      c.spec["brokerRemoval"] = { policy: "Drain", throttleBytesPerSecond: 10485760 };
    });
    const draining = await eventually("the claim says the broker is draining", async () => {
      const c = await current();
      const d = c.status?.conditions?.find((x) => x.type === "Draining");
      return d?.status === "True" || !c.status?.kafka?.brokers?.includes(victim)
        ? (d ?? true)
        : undefined;
    });
    log(`draining: ${JSON.stringify(draining)}`);
    await eventually(
      `broker ${victim} removed and unregistered`,
      async () => {
        const c = await current();
        const gone =
          !c.status?.kafka?.brokers?.includes(victim) && !c.status?.kafka?.retiredBrokers;
        return gone && !(await registered()).includes(victim) ? true : undefined;
      },
      300,
      2000,
    );
    // The refusal was there all along, said in the status and as a Warning event.
    const refusal = (await current()).status?.kafka?.live?.operationErrors?.find(
      (e) => e.operation === "throttles",
    );
    assert.match(refusal?.message ?? "", /IncrementalAlterConfigs refused \(injected/);
    const warned = (
      await bed.central.list<KubeObject & { reason?: string; message?: string }>("v1", "Event", {
        namespace: "default",
      })
    ).items.find((e) => e.reason === "ThrottleRemovalFailed");
    assert.match(warned?.message ?? "", /removing the replication throttles failed/);
    await bed.kafka.readNodes();
    assert.deepEqual(brokersOf("west").length, 1);
    await spread([victim]);
    assert.equal((await condition("Draining"))?.status, "False");
    assert.equal((await condition("Synced"))?.status, "True");
    // Kafka accepts again: the throttles go, and the refusal leaves the status.
    refuse.throttleRemoval = false;
    await throttleCleared();
    await eventually("no operation error left", async () =>
      (await current()).status?.kafka?.live?.operationErrors === undefined ? true : undefined,
    );
    assert.ok(producer.acks.length > acksBefore, "the producer kept going");
    assert.equal(producer.failure, undefined);
  });

  test("removeNodeIds removes the named broker; nextNodeIds gives a new one the pinned id", async () => {
    const [keep, named] = [Math.max(...brokersOf("east")), Math.min(...brokersOf("east"))];
    await apply(() => {
      const p = pool("east");
      p.replicas = 1;
      p.removeNodeIds = [named];
    });
    await eventually(
      `broker ${named} removed and unregistered, ${keep} kept`,
      async () => {
        const c = await current();
        const ids = c.status?.kafka?.brokers ?? [];
        return !ids.includes(named) && ids.includes(keep) && !(await registered()).includes(named)
          ? true
          : undefined;
      },
      300,
      2000,
    );
    await bed.kafka.readNodes();
    await spread([named]);
    await apply(() => {
      const p = pool("east");
      p.replicas = 2;
      delete p.removeNodeIds;
      p.nextNodeIds = [20];
    });
    // A broker that joins a running cluster is remembered until it has its share.
    await eventually("the claim says broker 20 joins", async () =>
      (await current()).status?.kafka?.joiningBrokers?.includes(20) ? true : undefined,
    );
    await eventually(
      "broker 20 registered in east",
      async () => ((await registered()).includes(20) ? true : undefined),
      240,
      2000,
    );
    await bed.waitReady(180);
    const ids = (await current()).status?.nodeIds;
    assert.equal(ids?.next, 21, "ids below the pinned one are skipped for good");
    assert.deepEqual(ids.pools.find((p) => p.cluster === "east" && p.pool === "brokers")?.ids, [
      keep,
      20,
    ]);
  });

  test("broker 20 takes its share: replicas move onto it under a throttle, one per cluster kept, then preferred leaders are spread and elected", async () => {
    const acksBefore = producer.acks.length;
    await bed.kafka.readNodes();
    const east = brokersOf("east");
    assert.ok(east.includes(20), `east runs brokers ${east.join(", ")}`);
    const replicasOn = (layout: { replicas: number[] }[], id: number): number =>
      layout.filter((p) => p.replicas.includes(id)).length;
    const layout = await eventually(
      "east's brokers within one replica of each other, and the claim no longer says broker 20 joins",
      async () => {
        const c = await current();
        const all = await describeAll(bed, "east");
        const counts = east.map((id) => replicasOn(all, id));
        // Said on every look, so a failure shows where it stood.
        log(
          `east ${counts.join(",")}; joining ${JSON.stringify(c.status?.kafka?.joiningBrokers)}; live ${JSON.stringify(c.status?.kafka?.live?.rebalance)}`,
        );
        if (c.status?.kafka?.joiningBrokers !== undefined) return undefined;
        return Math.max(...counts) - Math.min(...counts) <= 1 ? all : undefined;
      },
      300,
      3000,
    );
    log(
      `east: ${east.map((id) => `${id}=${replicasOn(layout, id)}`).join(", ")} of ${layout.length} partitions`,
    );
    assert.ok(replicasOn(layout, 20) > 0, "broker 20 holds replicas");
    for (const p of layout) {
      assert.deepEqual(
        p.replicas.map(clusterOf).sort(),
        ["east", "north", "west"],
        `${p.topic}-${p.partition} keeps one replica per cluster: ${p.replicas.join(",")}`,
      );
    }
    // The producer's topic: its preferred leaders spread over every broker, and elected.
    const brokers = bed.nodes.filter((n) => n.roles.includes("broker")).map((n) => n.id);
    for (const name of new Set(layout.map((p) => p.topic))) {
      const firsts = layout.filter((p) => p.topic === name).map((p) => p.replicas[0]);
      const leads = brokers.map((id) => firsts.filter((f) => f === id).length);
      log(
        `${name}: preferred leaders per broker ${brokers.map((id, i) => `${id}=${leads[i]}`).join(", ")}`,
      );
      if (name !== topic) continue;
      assert.ok(
        Math.max(...leads) - Math.min(...leads) <= 1,
        `${name}: preferred leaders per broker ${JSON.stringify(leads)} of ${JSON.stringify(brokers)}`,
      );
    }
    await eventually(
      "every partition led by its preferred replica",
      async () => {
        const all = await describeAll(bed, "east");
        return all.every((p) => p.leader === p.replicas[0]) ? true : undefined;
      },
      120,
      3000,
    );
    // The end is said: the condition, and an event naming the broker.
    const rebalancing = await condition("Rebalancing");
    assert.equal(rebalancing?.status, "False", JSON.stringify(rebalancing));
    const events = (
      await bed.central.list<KubeObject & { reason?: string; message?: string }>("v1", "Event", {
        namespace: "default",
      })
    ).items;
    assert.match(
      events.find((e) => e.reason === "Rebalanced")?.message ?? "",
      /broker 20 took its share: replica spread [01], leader spread \d+/,
    );
    assert.ok(
      events.some((e) => e.reason === "Rebalancing"),
      "the start was said too",
    );
    // No throttle left once nothing moves.
    await throttleCleared();
    assert.ok(producer.acks.length > acksBefore, "the producer kept going");
    assert.equal(producer.failure, undefined);
  });

  test("a full rebalance of a skewed topic is proposed (nothing moves), approved and started, stopped mid-move with every partition whole, then proposed again and carried out", async () => {
    const acksBefore = producer.acks.length;
    await bed.kafka.readNodes();
    const [e0] = brokersOf("east");
    const [w0] = brokersOf("west");
    const [n0] = brokersOf("north");
    const skewed = "skewed";
    const count = 12;
    // Every replica of every partition on one broker per cluster, led by east's.
    await bed.tool("east", "org.apache.kafka.tools.TopicCommand", [
      "--bootstrap-server",
      bed.bootstrap("east"),
      "--create",
      "--if-not-exists",
      "--topic",
      skewed,
      "--replica-assignment",
      Array.from({ length: count }, () => `${e0}:${w0}:${n0}`).join(","),
    ]);
    // About 1 MB per partition, so a replica takes a second or more to copy at 1 MiB/s.
    await bed.tool("east", "org.apache.kafka.tools.ProducerPerformance", [
      "--topic",
      skewed,
      "--num-records",
      "12000",
      "--record-size",
      "1000",
      "--throughput",
      "-1",
      "--producer.config",
      bed.clientConfig("skewed.properties", { acks: "all" }),
      "--producer-props",
      `bootstrap.servers=${bed.bootstrap("east")}`,
    ]);
    const layoutOf = async (): Promise<string> =>
      JSON.stringify((await describeTopic(bed, "east", skewed)).map((p) => p.replicas));
    const skewedLayout = await layoutOf();
    const { get, annotate, reaches } = kafkaRebalance(skewed);
    await bed.central.apply(
      {
        apiVersion: rebalanceApi,
        kind: "KafkaRebalance",
        metadata: { name: skewed, namespace: "team-a" },
        spec: {
          kafkaRef: { name: claim.metadata.name ?? "" },
          mode: "full",
          maxPartitionMoves: 1,
          replicationThrottle: 1048576,
        },
      },
      { fieldManager: "test" },
    );

    // Proposed: the figures before anything moves, and nothing moved.
    const proposed = await reaches("ProposalReady");
    const proposal = proposed.status?.proposal;
    log(`proposal: ${JSON.stringify({ ...proposal, moves: proposal?.moves?.length })}`);
    assert.ok((proposal?.partitionsToMove ?? 0) > 0, "the proposal moves partitions");
    assert.ok(
      (proposal?.bytesToMove ?? 0) > count * 500_000,
      "the bytes to move are Kafka's sizes",
    );
    assert.ok((proposal?.estimatedSeconds ?? 0) >= 1, "the time at 1 MiB/s is estimated");
    assert.ok((proposal?.before?.replicaSpread ?? 0) >= count - 1, "before: the skew is seen");
    assert.ok((proposal?.after?.replicaSpread ?? 9) <= 1, "after: within one");
    assert.ok(proposal?.moves?.some((m) => m.topic === skewed && m.from.includes(e0 ?? -1)));
    assert.equal(await layoutOf(), skewedLayout, "nothing moved before approval");
    const text = await claimStatus(bed.central, claim.metadata.name ?? "", "team-a");
    assert.match(
      text,
      /KafkaRebalance skewed \(full\): ProposalReady .*proposal: \d+ partition\(s\), \d+ bytes, about \d+s/,
    );

    // Approved, then stopped once a partition has moved.
    await annotate("approve");
    await eventually(
      "a partition of the skewed topic has moved",
      async () => ((await layoutOf()) !== skewedLayout ? true : undefined),
      120,
      250,
    );
    await annotate("stop");
    const stopped = await reaches("Stopped");
    log(`stopped: ${JSON.stringify(stopped.status?.progress)}`);
    const whole = async (): Promise<string> => {
      const all = await describeAll(bed, "east");
      for (const p of all) {
        if (p.topic.startsWith("__")) continue;
        assert.deepEqual(
          p.replicas.map(clusterOf).sort(),
          ["east", "north", "west"],
          `${p.topic}-${p.partition}: three replicas, one per cluster, none being added: ${p.replicas.join(",")}`,
        );
        assert.equal(p.isr.length, 3, `${p.topic}-${p.partition} in sync: ${p.isr.join(",")}`);
      }
      return JSON.stringify(all.map((p) => [p.topic, p.partition, p.replicas]));
    };
    const atStop = await whole();
    assert.ok((stopped.status?.progress?.partitionsToMove ?? 0) > 0, "stopped with moves left");

    // Proposed again from where it stopped: moves left, and nothing moved meanwhile.
    await annotate("refresh");
    const again = await reaches("ProposalReady");
    assert.ok((again.status?.proposal?.partitionsToMove ?? 0) > 0, "moves are left");
    assert.equal(await whole(), atStop, "nothing moved after the stop");

    // A faster pace (the spec changed: proposed again), approved, carried out.
    await bed.central.mergePatch(rebalanceApi, "KafkaRebalance", skewed, "team-a", {
      spec: { maxPartitionMoves: 12, replicationThrottle: 10485760 },
    });
    await eventually(
      "proposed again for the new spec",
      async () => {
        const r = await get();
        return r.status?.state === "ProposalReady" &&
          r.status.proposal !== undefined &&
          (r.status as { observedGeneration?: number }).observedGeneration === r.metadata.generation
          ? true
          : undefined;
      },
      60,
      500,
    );
    await annotate("approve");
    await reaches("Ready", 300);
    await whole();
    const all = await describeAll(bed, "east");
    for (const cluster of ["east", "west", "north"]) {
      const counts = brokersOf(cluster).map(
        (id) => all.filter((p) => p.replicas.includes(id)).length,
      );
      assert.ok(
        Math.max(...counts) - Math.min(...counts) <= 1,
        `${cluster}: replicas per broker within one: ${counts.join(",")}`,
      );
    }
    assert.ok(
      all.every((p) => p.leader === p.replicas[0]),
      "preferred leaders elected",
    );
    const events = (
      await bed.central.list<KubeObject & { reason?: string; involvedObject?: { kind?: string } }>(
        "v1",
        "Event",
        { namespace: "team-a" },
      )
    ).items.filter((e) => e.involvedObject?.kind === "KafkaRebalance");
    for (const reason of ["ProposalReady", "Rebalancing", "Stopped", "Rebalanced"])
      assert.ok(
        events.some((e) => e.reason === reason),
        `event ${reason}: ${events.map((e) => e.reason).join(",")}`,
      );
    await throttleCleared();
    await bed.tool("east", "org.apache.kafka.tools.TopicCommand", [
      "--bootstrap-server",
      bed.bootstrap("east"),
      "--delete",
      "--topic",
      skewed,
    ]);
    assert.ok(producer.acks.length > acksBefore, "the producer kept going");
    assert.equal(producer.failure, undefined);
  });

  test("a cluster left without brokers gets one replica of every partition back when brokers return to it", async () => {
    const acksBefore = producer.acks.length;
    await bed.kafka.readNodes();
    const gone = brokersOf("west");
    // The replication the brokers already run with, written out so that two
    // clusters with brokers do not lower the defaults (which would roll every node).
    await apply((c) => {
      c.spec["kafka"] = {
        ...(c.spec["kafka"] as object),
        config: { "default.replication.factor": 3, "min.insync.replicas": 2 },
      };
      pool("west").replicas = 0;
    });
    await eventually(
      `west's broker(s) ${gone.join(", ")} drained, removed and unregistered`,
      async () => {
        const ids = (await current()).status?.kafka?.brokers ?? [];
        const left = await registered();
        return gone.every((id) => !ids.includes(id) && !left.includes(id)) ? true : undefined;
      },
      300,
      2000,
    );
    // Meanwhile every partition lives in east and north, one of them holding two.
    for (const p of await describeAll(bed, "east")) {
      if (p.topic.startsWith("__")) continue;
      assert.equal(p.replicas.length, 3, `${p.topic}-${p.partition}: ${p.replicas.join(",")}`);
      assert.ok(!p.replicas.some((r) => gone.includes(r)), `${p.topic}-${p.partition} left west`);
    }
    await apply(() => {
      pool("west").replicas = 2;
    });
    await eventually("the claim says west's new brokers join", async () =>
      ((await current()).status?.kafka?.joiningBrokers?.length ?? 0) >= 2 ? true : undefined,
    );
    await bed.waitReady(240);
    await bed.kafka.readNodes();
    const west = brokersOf("west");
    assert.equal(west.length, 2, `west runs brokers ${west.join(", ")}`);
    const layout = await eventually(
      "one replica per cluster in every partition again, and no broker still joining",
      async () => {
        if ((await current()).status?.kafka?.joiningBrokers !== undefined) return undefined;
        const all = (await describeAll(bed, "east")).filter((p) => !p.topic.startsWith("__"));
        return all.every((p) => p.replicas.map(clusterOf).sort().join() === "east,north,west")
          ? all
          : undefined;
      },
      400,
      3000,
    );
    const counts = west.map((id) => layout.filter((p) => p.replicas.includes(id)).length);
    log(`west: ${west.map((id, i) => `${id}=${counts[i]}`).join(", ")} of ${layout.length}`);
    assert.ok(
      Math.max(...counts) - Math.min(...counts) <= 1,
      `west within one: ${counts.join(",")}`,
    );
    await throttleCleared();
    assert.ok(producer.acks.length > acksBefore, "the producer kept going");
    assert.equal(producer.failure, undefined);
  });

  test("a configuration change rolls one node at a time, Kafka in sync before each, the active controller last, through a controller restart", async () => {
    const leaderBefore = (await quorumStatus(bed, "north")).leaderId;
    const watch = await RollWatch.start(bed, topic);
    const controllers = bed.nodes.filter((n) => n.roles.includes("controller"));
    const restarted = watch.restarted;
    try {
      await watch.during(
        (async () => {
          await apply((c) => {
            (c.spec["kafka"] as Record<string, unknown>)["config"] = {
              "log.retention.hours": 100,
            };
          });
          await eventually(
            "two nodes restarted",
            () => (restarted.length >= 2 ? true : undefined),
            240,
          );
          log(`restarted so far: ${restarted.join(", ")}; restarting the stretch-kafka controller`);
          await bed.restartController();
          await eventually(
            "every node restarted once",
            () => (restarted.length >= watch.nodes ? true : undefined),
            900,
            2000,
          );
          await bed.waitReady(300);
        })(),
      );
    } finally {
      // Throws if a node was down with another or a partition fell below 2 in sync
      // (min.insync.replicas is 2), at any sample.
      await watch.stop();
    }
    log(
      `restart order: ${restarted.join(", ")}; quorum leader before: ${leaderBefore}; fewest in sync ${watch.fewestInSync}`,
    );
    assert.equal(new Set(restarted).size, watch.nodes, "each node restarted exactly once");
    assert.equal(restarted.length, watch.nodes);
    assert.equal(watch.mostNotReady, 1, "a node was down, never more than one at a time");
    const isController = new Set(controllers.map((n) => n.id));
    const firstController = restarted.findIndex((id) => isController.has(id));
    assert.ok(
      restarted.slice(firstController).every((id) => isController.has(id)),
      "brokers first, then controllers",
    );
    assert.equal(restarted.at(-1), leaderBefore, "the active controller restarts last");
    assert.equal(producer.failure, undefined);
    assert.deepEqual(producer.errors, []);
  });

  test("guard: a deliberately unsafe roll, two replicas of one partition down at once, fails the roll watch at once", async () => {
    await bed.kafka.readNodes();
    // Two pods deleted together by the test (stretch-kafka never would): the
    // watch that checks every roll must see the ISR drop below 2 and say so.
    const [part] = await describeTopic(bed, "east", topic);
    assert.ok(part);
    const victims = part.replicas
      .map((id) => bed.nodes.find((n) => n.id === id))
      .filter((n) => n !== undefined && n.cluster !== clusterOf(part.leader))
      .slice(0, 2);
    assert.equal(victims.length, 2);
    // Allow two pods down, so that what catches it is the ISR check alone.
    const watch = await RollWatch.start(bed, topic, { maxNotReady: 2 });
    const caught = await watch
      .during(
        (async () => {
          for (const n of victims)
            await bed.remotes
              .get(n?.cluster ?? "")
              ?.delete("v1", "Pod", n?.pod ?? "", bed.namespace);
          await new Promise((r) => setTimeout(r, 120_000));
          return "the watch did not fail within 2 minutes";
        })(),
      )
      .then(
        (never) => assert.fail(never),
        (err: unknown) => err as Error,
      );
    const stopped = await watch.stop().then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    log(`the watch caught it: ${caught.message}`);
    assert.match(
      caught.message,
      new RegExp(`no partition of ${topic} below 2 in sync: violated: ${topic}-\\d+ had 1 in sync`),
    );
    assert.equal(stopped?.message, caught.message, "stop() reports the same first violation");
    await bed.waitReady(300);
  });

  test("evacuating west moves leadership off it; once it says so, stopping west pauses acks briefly; cleared, west leads again", async () => {
    await bed.kafka.readNodes();
    const west = new Set(brokersOf("west"));
    const ledByWest = async (): Promise<number> =>
      (await describeTopic(bed, "north", topic)).filter((p) => west.has(p.leader)).length;
    // The roll and the guard before left leadership wherever it fell: give
    // each partition to its preferred leader (Kafka's own tool), so that west
    // leads some. Asked again until it does: a broker the guard stopped may
    // not be back in the ISR of its partitions yet, and Kafka elects only an
    // in-sync preferred replica.
    await eventually(
      "west leads partitions before",
      async () => {
        await bed
          .tool("north", "org.apache.kafka.tools.LeaderElectionCommand", [
            "--bootstrap-server",
            bed.bootstrap("north"),
            "--election-type",
            "PREFERRED",
            "--all-topic-partitions",
          ])
          .catch(() => undefined); // it exits non-zero when some partition needed no election
        return (await ledByWest()) > 0 ? true : undefined;
      },
      180,
      3000,
    );
    const cluster = (c: Claim, name: string): Record<string, unknown> => {
      const found = c.spec.clusters.find((x) => x.name === name);
      if (!found) throw new Error(`no cluster ${name}`);
      return found;
    };
    await apply((c) => {
      cluster(c, "west")["maintenance"] = true;
    });
    const evacuated = await eventually(
      "the claim says west can be taken down",
      async () => {
        const e = await condition("Evacuated");
        return e?.status === "True" ? e : undefined;
      },
      180,
    );
    log(`Evacuated: ${evacuated.message ?? ""}`);
    assert.equal(await ledByWest(), 0, "no partition led by west");
    // A rebalance asked for now (approved at once) waits until the maintenance
    // is over and says so; from the moment it says so until it is over, no
    // replica moves.
    const asked = kafkaRebalance("after-maintenance");
    await bed.central.apply(
      {
        apiVersion: rebalanceApi,
        kind: "KafkaRebalance",
        metadata: {
          name: "after-maintenance",
          namespace: "team-a",
          annotations: { "stretchkafka.dev/rebalance-auto-approval": "true" },
        },
        spec: { kafkaRef: { name: claim.metadata.name ?? "" }, mode: "full" },
      },
      { fieldManager: "test" },
    );
    let lastStatus = "";
    await eventually(
      "the KafkaRebalance says it waits for west's maintenance",
      async () => {
        const r = await asked.get();
        lastStatus = JSON.stringify(r.status);
        const ready = r.status?.conditions?.find((c) => c.type === "Ready");
        return r.status?.state === "Rebalancing" &&
          r.status.progress?.waitingFor === "the maintenance of cluster west is over" &&
          ready?.reason === "Waiting"
          ? true
          : undefined;
      },
      120,
      500,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; last status: ${lastStatus}`, { cause: err });
    });
    const layout = async (): Promise<string> =>
      JSON.stringify(
        (await describeAll(bed, "east")).map((p) => [p.topic, p.partition, p.replicas]),
      );
    const whileWaiting = await layout();
    assert.match(
      await claimStatus(bed.central, claim.metadata.name ?? "", "team-a"),
      /KafkaRebalance after-maintenance \(full\): Rebalancing \(waiting until the maintenance of cluster west is over\)/,
    );
    const from = producer.acks.length;
    const stoppedAt = Date.now();
    await bed.stopCluster("west");
    try {
      await eventually(
        "acknowledgements continue on every partition without west",
        () =>
          new Set(
            producer.acks
              .slice(from)
              .filter((a) => a.at > stoppedAt)
              .map((a) => a.partition),
          ).size === partitions
            ? true
            : undefined,
        120,
      );
      await new Promise((r) => setTimeout(r, 15_000));
      const times = [stoppedAt, ...producer.acks.slice(from).map((a) => a.at)];
      const worst = Math.max(...times.slice(1).map((t, i) => t - (times[i] ?? t)));
      log(`worst pause in acknowledgements after stopping west: ${worst} ms`);
      // No leader moves; a west follower leaves the ISRs once Kafka fences it
      // (broker.session.timeout.ms, 9 s): the pause stays under 20 s.
      assert.ok(worst < 20_000, `acknowledgements paused ${worst} ms`);
      assert.equal(producer.failure, undefined);
    } finally {
      await bed.startCluster("west");
    }
    await bed.waitReady(300);
    assert.equal(
      (await asked.get()).status?.progress?.waitingFor,
      "the maintenance of cluster west is over",
      "still waiting",
    );
    assert.equal(await layout(), whileWaiting, "no replica moved while the rebalance waited");
    await apply((c) => {
      cluster(c, "west")["maintenance"] = false;
    });
    await eventually(
      "west leads partitions again",
      async () => ((await ledByWest()) > 0 ? true : undefined),
      240,
      2000,
    );
    await eventually("the claim has given leadership back", async () =>
      (await current()).status?.kafka?.restoringLeadership === undefined &&
      (await condition("Evacuated"))?.reason === "NoMaintenance"
        ? true
        : undefined,
    );
    // Then the rebalance runs: done, one replica per cluster everywhere.
    await asked.reaches("Ready", 300);
    for (const p of await describeAll(bed, "east"))
      if (!p.topic.startsWith("__"))
        assert.deepEqual(p.replicas.map(clusterOf).sort(), ["east", "north", "west"]);
  });

  test("the producer ran through it all: nothing acknowledged lost or duplicated, no error", async () => {
    await assertNothingLost(bed, producer, topic);
  });
});
