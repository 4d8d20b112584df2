/**
 * A Kafka upgrade on real Kafka through the whole path: Kafka 4.2.1 to 4.3.1
 * (jars of both from Maven Central; each pod runs the version its image
 * names), with an idempotent acks=all producer running throughout. The roll
 * takes controllers first, then brokers, one node at a time with Kafka asked
 * before each; metadata.version stays where the claim pins it, is raised to
 * the new version's once the pin is lifted, and a downgrade below it is
 * refused with nothing restarted.
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
import { assertNothingLost, NumberedProducer, RollWatch, startStream } from "../kafka/proofs.ts";

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
  /** metadata.version as Kafka's own feature tool describes it. */
  const finalized = async (): Promise<string> => {
    const { stdout } = await bed.tool("east", "org.apache.kafka.tools.FeatureCommand", [
      "--bootstrap-server",
      bed.bootstrap("east"),
      "describe",
    ]);
    return (
      /Feature: metadata\.version\s+SupportedMinVersion: \S+\s+SupportedMaxVersion: \S+\s+FinalizedVersionLevel: (\S+)/.exec(
        stdout,
      )?.[1] ?? stdout
    );
  };

  before(async () => {
    bed = await KafkaStretchBed.start({ claim: cloneDeep(claim), latencyMs: 5, log });
    producer = await startStream(bed, topic, 6);
  });

  after(async () => {
    producer.stop();
    await bed.stop();
  });

  test("a new cluster finalizes its version's metadata.version", async () => {
    assert.equal(await finalized(), "4.2-IV1");
    await eventually("the claim says so", async () =>
      (await current()).status?.kafka?.metadataVersion === "4.2-IV1" ? true : undefined,
    );
  });

  test("4.2.1 to 4.3.1 rolls controllers first, then brokers; metadata.version stays where the claim pins it", async () => {
    const watch = await RollWatch.start(bed, topic);
    const controllers = new Set(
      bed.nodes.filter((n) => n.roles.includes("controller")).map((n) => n.id),
    );
    try {
      await apply((c) => {
        c.spec.kafka["version"] = "4.3.1";
        c.spec.kafka["metadataVersion"] = "4.2";
      });
      await eventually(
        "every node restarted once",
        () => (watch.restarted.length >= watch.nodes ? true : undefined),
        900,
        2000,
      );
      await bed.waitReady(300);
    } finally {
      await watch.stop();
    }
    log(`restart order: ${watch.restarted.join(", ")}`);
    assert.equal(new Set(watch.restarted).size, watch.nodes, "each node restarted exactly once");
    assert.deepEqual(
      watch.restarted.map((id) => controllers.has(id)),
      [...watch.restarted].map((_, i) => i < controllers.size),
      "controllers first, then brokers",
    );
    assert.equal(watch.mostNotReady, 1, "never more than one node down at a time");
    assert.ok(
      watch.fewestInSync >= 2,
      `a partition fell to ${watch.fewestInSync} in-sync replicas`,
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
    // Pinned: it stays, however long.
    await new Promise((r) => setTimeout(r, 8000));
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
    await new Promise((r) => setTimeout(r, 8000));
    assert.deepEqual(await RollWatch.pods(bed), pods, "no pod was restarted");
    await apply((c) => {
      c.spec.kafka["version"] = "4.3.1";
    });
  });

  test("the producer ran through it all: nothing acknowledged lost or duplicated, no error", async () => {
    await assertNothingLost(bed, producer, topic);
  });
});
