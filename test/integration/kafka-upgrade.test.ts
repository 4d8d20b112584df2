/**
 * A Kafka upgrade on real Kafka through the whole path: Kafka 4.2.1 to 4.3.1
 * (jars of both from Maven Central; each pod runs the version its image
 * names), with an idempotent acks=all producer running throughout. The roll
 * takes controllers first, then brokers, one node at a time with Kafka asked
 * before each; metadata.version stays where the claim pins it, is raised to
 * the new version's once the pin is lifted, and a downgrade below it is
 * refused with nothing restarted. Then the static quorum is migrated to a
 * dynamic one (kraft.version 1, every node rolled onto
 * controller.quorum.bootstrap.servers) and grows by a controller.
 *
 * Three clusters, one controller and one broker each.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import cloneDeep from "lodash/cloneDeep.js";
import type { StretchKafkaStatus } from "../../apis/index.ts";
import type { KubeObject } from "../../controller/kube/dynamic.ts";
import { eventually } from "../../devbed/eventually.ts";
import { KafkaStretchBed } from "../../devbed/kafka/stretch-bed.ts";
import { threeClusterClaim } from "../kafka/claims.ts";
import {
  assertNothingLost,
  NumberedProducer,
  quorumStatus,
  RollWatch,
  startStream,
} from "../kafka/proofs.ts";
import { teardown } from "../teardown.ts";

const log = (m: string): void => {
  console.log(`[upgrade] ${m}`);
};

interface Condition {
  type: string;
  status: string;
  message?: string;
}
interface Claim extends KubeObject {
  spec: Record<string, unknown> & { kafka: Record<string, unknown> };
  status?: StretchKafkaStatus & { conditions?: Condition[] };
}

const topic = "orders";

describe("upgrading Kafka on a running stretch cluster", () => {
  let bed: KafkaStretchBed;
  let producer: NumberedProducer;
  const claim = threeClusterClaim("upgrade", "static") as Claim;
  claim.spec.kafka["version"] = "4.2.1";

  const apply = async (edit: (c: Claim) => void): Promise<void> => {
    edit(claim);
    await bed.central.apply(cloneDeep(claim), { fieldManager: "test" });
  };
  const current = async (): Promise<Claim> =>
    bed.central.get<Claim>(claim.apiVersion, claim.kind, claim.metadata.name ?? "", "team-a");
  /** A feature's finalized level as Kafka's own feature tool describes it. */
  const finalized = async (feature = "metadata.version"): Promise<string> => {
    const { stdout } = await bed.tool("east", "org.apache.kafka.tools.FeatureCommand", [
      "--bootstrap-server",
      bed.bootstrap("east"),
      "describe",
    ]);
    return (
      new RegExp(
        `Feature: ${feature.replace(".", "\\.")}\\s+SupportedMinVersion: \\S+\\s+SupportedMaxVersion: \\S+\\s+FinalizedVersionLevel: (\\S+)`,
      ).exec(stdout)?.[1] ?? stdout
    );
  };

  /**
   * Applies `edit` while watching the nodes, waits until `done` answers and
   * the nodes are Ready, and checks the roll's safety: every node restarted
   * exactly once, never two down at once, no partition below 2 in sync.
   * Returns the restart order.
   */
  const roll = async (
    edit: (c: Claim) => void,
    done: [string, (w: RollWatch) => unknown],
  ): Promise<number[]> => {
    const watch = await RollWatch.start(bed, topic);
    try {
      await watch.during(
        (async () => {
          await apply(edit);
          await eventually(done[0], () => done[1](watch), 900, 2000);
          await bed.waitReady(300);
        })(),
      );
    } finally {
      // Throws if a node was down with another or a partition fell below 2 in sync, at any sample.
      await watch.stop();
    }
    log(`restart order: ${watch.restarted.join(", ")}; fewest in sync ${watch.fewestInSync}`);
    assert.equal(watch.restarted.length, watch.nodes, "as many restarts as nodes");
    assert.equal(new Set(watch.restarted).size, watch.nodes, "each node restarted exactly once");
    assert.equal(watch.mostNotReady, 1, "a node was down, never more than one at a time");
    return watch.restarted;
  };

  before(async () => {
    bed = await KafkaStretchBed.start({ claim: cloneDeep(claim), latencyMs: 5, log });
    producer = await startStream(bed, topic, 6);
  });

  after(async () => {
    await teardown(
      () => {
        producer.stop();
      },
      () => bed.stop(),
    );
  });

  test("a new cluster finalizes its version's metadata.version", async () => {
    assert.equal(await finalized(), "4.2-IV1");
    await eventually("the claim says so", async () =>
      (await current()).status?.kafka?.metadataVersion === "4.2-IV1" ? true : undefined,
    );
  });

  test("4.2.1 to 4.3.1 rolls controllers first, then brokers; metadata.version stays where the claim pins it", async () => {
    const controllers = new Set(
      bed.nodes.filter((n) => n.roles.includes("controller")).map((n) => n.id),
    );
    const order = await roll(
      (c) => {
        c.spec.kafka["version"] = "4.3.1";
        c.spec.kafka["metadataVersion"] = "4.2";
      },
      ["every node restarted once", (w) => (w.restarted.length >= w.nodes ? true : undefined)],
    );
    assert.deepEqual(
      order.map((id) => controllers.has(id)),
      order.map((_, i) => i < controllers.size),
      "controllers first, then brokers",
    );
    for (const [cluster, client] of bed.remotes) {
      const pods = await client.list<KubeObject & { spec: { containers: { image: string }[] } }>(
        "v1",
        "Pod",
        { namespace: bed.namespace },
      );
      for (const p of pods.items)
        assert.match(
          p.spec.containers[0]?.image ?? "",
          /-kafka-4\.3\.1$/,
          `${cluster}/${p.metadata.name ?? ""}`,
        );
    }
    // Pinned: once the provider has acted on the function's decision (raise to
    // the pinned 4.2-IV1, not 4.3's newest) with every node on 4.3.1, Kafka stays there.
    const rolled = Date.now();
    const composite = (await current()).spec["resourceRef"] as { name: string };
    const round = await eventually("the provider acted on the pinned metadata.version", () => {
      const r = bed.controller.provider.kafka?.lastRound(composite.name);
      return r && r.at > rolled && r.admin.metadataVersion?.name === "4.2-IV1" ? r : undefined;
    });
    log(`the provider's round at ${new Date(round.at).toISOString()} acted on 4.2-IV1`);
    assert.equal(await finalized(), "4.2-IV1");
  });

  test("lifting the pin raises metadata.version to 4.3's; a downgrade below it is then refused, nothing restarted", async () => {
    await apply((c) => {
      delete c.spec.kafka["metadataVersion"];
    });
    await eventually("Kafka finalizes 4.3-IV0", async () =>
      (await finalized()) === "4.3-IV0" ? true : undefined,
    );
    await eventually("the claim says so", async () =>
      (await current()).status?.kafka?.metadataVersion === "4.3-IV0" ? true : undefined,
    );
    const pods = await RollWatch.pods(bed);
    await apply((c) => {
      c.spec.kafka["version"] = "4.2.1";
    });
    const synced = await eventually("the downgrade is refused", async () => {
      const s = (await current()).status?.conditions?.find((x) => x.type === "Synced");
      return s?.status === "False" && s.message?.includes("spec.kafka.version") ? s : undefined;
    });
    assert.match(
      synced.message ?? "",
      /Kafka 4\.2\.1 runs metadata\.version up to 4\.2-IV1, but the cluster has finalized 4\.3-IV0: going below the finalized metadata\.version is refused/,
    );
    // The function refused the change: nothing of it was rendered, so nothing restarts.
    assert.deepEqual(await RollWatch.pods(bed), pods, "no pod was restarted");
    await apply((c) => {
      c.spec.kafka["version"] = "4.3.1";
    });
  });

  test("quorum.mode dynamic migrates the static quorum (kraft.version 1, every node rolled onto bootstrap servers); then a controller joins", async () => {
    assert.equal(await finalized("kraft.version"), "0");
    await roll(
      (c) => {
        c.spec["quorum"] = { mode: "dynamic" };
      },
      [
        "Kafka finalizes kraft.version 1, and the migration is done",
        async () =>
          (await finalized("kraft.version")) === "1" &&
          (await current()).status?.quorumMigration?.phase === "Done"
            ? true
            : undefined,
      ],
    );
    const st = (await current()).status;
    assert.equal(st?.quorumMode, "dynamic");
    for (const [cluster, client] of bed.remotes) {
      const cms = await client.list<KubeObject & { data?: Record<string, string> }>(
        "v1",
        "ConfigMap",
        { namespace: bed.namespace },
      );
      const configs = cms.items.flatMap((cm) => cm.data?.["server.config"] ?? []);
      assert.ok(configs.length > 0, cluster);
      for (const c of configs) {
        assert.match(c, /^controller\.quorum\.bootstrap\.servers=/m, cluster);
        assert.doesNotMatch(c, /^controller\.quorum\.voters=/m, cluster);
      }
    }
    const q = await quorumStatus(bed, "east");
    assert.equal(q.voters.length, 3);
    assert.ok(
      q.voters.every((v) => v.directoryId && v.directoryId !== "AAAAAAAAAAAAAAAAAAAAAA"),
      "every voter known by its directory id",
    );

    // Now a dynamic quorum: a second controller in east (consent: east then holds 2 of 4).
    const votersBefore = q.voters.map((v) => v.id);
    await apply((c) => {
      c.spec["quorum"] = { mode: "dynamic", acceptQuorumRisk: true };
      const pool = (
        c.spec["clusters"] as { name: string; nodePools: { name: string; replicas: number }[] }[]
      )
        .find((x) => x.name === "east")
        ?.nodePools.find((p) => p.name === "controllers");
      assert.ok(pool);
      pool.replicas = 2;
    });
    const added = await eventually(
      "the new controller is a voter",
      async () => {
        const s = await quorumStatus(bed, "east");
        return s.voters.length === 4 ? s : undefined;
      },
      300,
      2000,
    );
    const newId = added.voters.map((v) => v.id).find((id) => !votersBefore.includes(id));
    assert.ok(newId !== undefined && newId > Math.max(...votersBefore), "a new id");
    await bed.waitReady(300);
    assert.equal(producer.failure, undefined);
  });

  test("the producer ran through it all: nothing acknowledged lost or duplicated, no error", async () => {
    await assertNothingLost(bed, producer, topic);
  });
});
