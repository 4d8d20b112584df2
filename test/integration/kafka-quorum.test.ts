/**
 * A dynamic (KIP-853) quorum's membership on real Kafka through the whole
 * path, with an idempotent acks=all producer running throughout: a fourth
 * Kubernetes cluster is added (its controller joins as an observer and the
 * provider makes it a voter once caught up; its broker registers), a change
 * that would leave the quorum unable to survive losing one cluster is refused
 * without consent, and the cluster is removed again (its broker drained to
 * the remaining clusters and unregistered, its controller's voter removed
 * before its pod). Then a region is lost for good: north is killed, given up
 * (its ProviderConfig abandoned) and replaced by south in one change; its
 * replicas are re-created in south from the in-sync ones, its voter replaced,
 * its broker unregistered, its managed resources released, and nothing in
 * east or west restarts. Nothing acknowledged is lost.
 *
 * Three clusters in the claim, one controller and one broker each; south is
 * registered and waits. The claim starts on a Composition asking for a
 * managed resource per remote object, the shape of composites created before
 * sets (ADR 0026), and is handed over to the shipped one first, under the
 * producer; everything after runs on sets.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import cloneDeep from "lodash/cloneDeep.js";
import { groups, managedKinds, type StretchKafkaStatus } from "../../apis/index.ts";
import type { KubeObject } from "../../controller/kube/dynamic.ts";
import { always, eventually } from "../../devbed/eventually.ts";
import { KafkaStretchBed } from "../../devbed/kafka/stretch-bed.ts";
import { perObjectComposition, perObjectCompositionName } from "../../devbed/prepare-clusters.ts";
import { threeClusterClaim } from "../kafka/claims.ts";
import {
  assertNothingLost,
  createTopic,
  describeAll,
  describeTopic,
  NumberedProducer,
  quorumStatus,
  RollWatch,
  startStream,
} from "../kafka/proofs.ts";
import { teardown } from "../teardown.ts";

const log = (m: string): void => {
  console.log(`[quorum] ${m}`);
};

interface Condition {
  type: string;
  status: string;
  message?: string;
}
interface Pool {
  name: string;
  roles: string[];
  replicas: number;
}
interface Managed extends KubeObject {
  spec: { providerConfigRef: { name: string } };
}
interface Claim extends KubeObject {
  spec: Record<string, unknown> & {
    clusters: { name: string; providerConfigRef: { name: string }; nodePools: Pool[] }[];
  };
  status?: StretchKafkaStatus & { conditions?: Condition[] };
}

const topic = "orders";

describe("a dynamic quorum gains and loses a whole Kubernetes cluster", () => {
  let bed: KafkaStretchBed;
  let producer: NumberedProducer;
  const claim = threeClusterClaim("quorum", "dynamic") as Claim;
  claim.spec["compositionRef"] = { name: perObjectCompositionName };

  const apply = async (edit: (c: Claim) => void): Promise<void> => {
    edit(claim);
    await bed.central.apply(cloneDeep(claim), { fieldManager: "test" });
  };
  const current = async (): Promise<Claim> =>
    bed.central.get<Claim>(claim.apiVersion, claim.kind, claim.metadata.name ?? "", "team-a");
  const south = (): Claim["spec"]["clusters"][number] | undefined =>
    claim.spec.clusters.find((c) => c.name === "south");
  const southPods = async (): Promise<string[]> =>
    (await bed.remotes.get("south")?.list("v1", "Pod", { namespace: bed.namespace }))?.items.map(
      (p) => p.metadata.name ?? "",
    ) ?? [];
  /** South in the claim: a controller and a broker. */
  const southCluster = (): Claim["spec"]["clusters"][number] => ({
    name: "south",
    providerConfigRef: { name: "south" },
    nodePools: [
      { name: "controllers", roles: ["controller"], replicas: 1 },
      { name: "brokers", roles: ["broker"], replicas: 1 },
    ],
  });
  /** Until Kafka no longer lists the broker, fenced ones included. */
  const unregistered = (broker: number): Promise<true> =>
    eventually(`broker ${broker} unregistered`, async () => {
      const { stdout } = await bed.tool("east", "org.apache.kafka.tools.ClusterTool", [
        "list-endpoints",
        "--bootstrap-server",
        bed.bootstrap("east"),
        "--include-fenced-brokers",
      ]);
      return new RegExp(`^${broker}\\s`, "m").test(stdout) ? undefined : true;
    });
  let southController = -1;
  let southBroker = -1;

  before(async () => {
    bed = await KafkaStretchBed.start({
      claim: cloneDeep(claim),
      latencyMs: 5,
      log,
      spareClusters: ["south"],
      compositions: [perObjectComposition()],
    });
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

  test("composed per object, handed over to one RemoteObjectSet per cluster under the producer: no Kafka pod down or restarted, the same cluster id, node ids and volumes", async () => {
    const first = await current();
    const xrName = (first.spec["resourceRef"] as { name: string }).name;
    const composite = async (): Promise<Claim> =>
      bed.central.get<Claim>(groups.composite, "XStretchKafka", xrName);
    assert.equal((await composite()).status?.remoteObjects, "PerObject");
    const own = async (): Promise<number> => {
      let n = 0;
      for (const k of managedKinds)
        n += (
          await bed.central.list(groups.remote, k.kind, {
            labelSelector: `crossplane.io/composite=${xrName}`,
          })
        ).items.length;
      return n;
    };
    assert.ok((await own()) > 0, "managed resources of its own before");
    const volumes = async (): Promise<string[]> => {
      const out: string[] = [];
      for (const [cluster, r] of bed.remotes)
        for (const p of (await r.list("v1", "PersistentVolumeClaim", { namespace: bed.namespace }))
          .items)
          out.push(`${cluster}/${p.metadata.name ?? ""}=${p.metadata.uid ?? ""}`);
      return out.sort();
    };
    const volumesBefore = await volumes();
    const podsBefore = await RollWatch.pods(bed);
    const nodesBefore = bed.nodes.map((n) => `${n.cluster}/${n.pod}=${String(n.id)}`).sort();
    // Every sample: no Kafka pod down, no partition below two in sync.
    const watch = await RollWatch.start(bed, topic, { maxNotReady: 0 });
    try {
      await watch.during(
        (async () => {
          await apply((c) => {
            c.spec["compositionRef"] = { name: "xstretchkafkas.stretchkafka.dev" };
          });
          await eventually(
            "composed as sets, its managed resources of its own gone",
            async () => {
              const sets = await bed.central.list(groups.remote, "RemoteObjectSet", {
                labelSelector: `crossplane.io/composite=${xrName}`,
              });
              return (await composite()).status?.remoteObjects === "PerCluster" &&
                sets.items.length === 3 &&
                (await own()) === 0
                ? true
                : undefined;
            },
            180,
            500,
          );
          await watch.allUp(180);
        })(),
      );
    } finally {
      await watch.stop();
    }
    assert.deepEqual(watch.restarted, [], "no Kafka pod was created again");
    assert.deepEqual(await RollWatch.pods(bed), podsBefore, "the same pods");
    assert.deepEqual(await volumes(), volumesBefore, "the same volumes");
    await bed.kafka.readNodes();
    assert.deepEqual(
      bed.nodes.map((n) => `${n.cluster}/${n.pod}=${String(n.id)}`).sort(),
      nodesBefore,
      "the same node ids",
    );
    const after = await current();
    assert.equal(after.status?.clusterId, first.status?.clusterId, "the same Kafka cluster id");
    log(`handed over: ${xrName} composed as ${String((await composite()).status?.remoteObjects)}`);
  });

  test("adding a cluster: its controller becomes a voter once caught up, its broker registers", async () => {
    const votersBefore = (await quorumStatus(bed, "east")).voters.map((v) => v.id);
    await apply((c) => {
      c.spec.clusters.push(southCluster());
    });
    await eventually(
      "south's nodes run",
      async () => ((await southPods()).length === 2 ? true : undefined),
      240,
    );
    await bed.waitReady(300);
    await bed.kafka.readNodes();
    southController =
      bed.nodes.find((n) => n.cluster === "south" && n.roles.includes("controller"))?.id ?? -1;
    southBroker =
      bed.nodes.find((n) => n.cluster === "south" && n.roles.includes("broker"))?.id ?? -1;
    const q = await eventually(
      `controller ${southController} is a voter`,
      async () => {
        const s = await quorumStatus(bed, "east");
        return s.voters.some((v) => v.id === southController) ? s : undefined;
      },
      180,
      2000,
    );
    assert.deepEqual(
      q.voters.map((v) => v.id).sort((a, b) => a - b),
      [...votersBefore, southController].sort((a, b) => a - b),
    );
    assert.ok(q.observers.includes(southBroker), "south's broker registered");
    const live = await eventually(
      "the claim's live status shows the new voter caught up",
      async () => {
        const l = (await current()).status?.kafka?.live;
        return l?.quorum?.voters?.some((v) => v.id === southController && v.caughtUp)
          ? l
          : undefined;
      },
    );
    assert.equal(live.quorum?.voters?.length, 4);
    assert.equal(producer.failure, undefined);
  });

  test("a change that leaves the quorum unable to survive losing one cluster is refused without consent", async () => {
    const without = (c: Claim, names: string[]): void => {
      for (const cl of c.spec.clusters)
        if (names.includes(cl.name))
          for (const p of cl.nodePools) if (p.roles.includes("controller")) p.replicas = 0;
    };
    await apply((c) => {
      without(c, ["west", "north"]);
    });
    const synced = await eventually("refused", async () => {
      const s = (await current()).status?.conditions?.find((x) => x.type === "Synced");
      return s?.status === "False" && s.message?.includes("acceptQuorumRisk") ? s : undefined;
    });
    assert.match(synced.message ?? "", /controllers run in 2 cluster\(s\)/);
    await apply((c) => {
      for (const cl of c.spec.clusters)
        for (const p of cl.nodePools) if (p.roles.includes("controller")) p.replicas = 1;
    });
    await eventually("accepted again", async () =>
      (await current()).status?.conditions?.find((x) => x.type === "Synced")?.status === "True"
        ? true
        : undefined,
    );
  });

  test("removing the cluster: its broker drained and unregistered, its controller's voter removed before its pod", async () => {
    // A topic created with four clusters puts replicas on south's broker.
    await createTopic(bed, "east", "spread", 8);
    const placed = await eventually("spread has leaders", async () => {
      const p = await describeTopic(bed, "east", "spread");
      return p.length === 8 && p.every((x) => x.leader >= 0) ? p : undefined;
    });
    assert.ok(
      placed.some((p) => p.replicas.includes(southBroker)),
      "south holds replicas",
    );
    // Every version of the claim's status, however briefly it lasts: the
    // voter may leave between two polls.
    let sawLeaving = false;
    const watching = new AbortController();
    const rv = (await current()).metadata.resourceVersion ?? "";
    const watch = bed.central
      .watch<Claim>(claim.apiVersion, claim.kind, {
        namespace: "team-a",
        resourceVersion: rv,
        timeoutSeconds: 600,
        signal: watching.signal,
        onEvent: (e) => {
          if (e.object.status?.kafka?.removing?.some((r) => r.voter)) sawLeaving = true;
        },
      })
      .catch((err: unknown) => {
        // Stopped by the test; anything else is the watch failing.
        if (!watching.signal.aborted) throw err;
      });
    // Until the pod goes, Kafka may count it a voter; never a voter without its
    // pod, checked at every sample (pods first: a pod seen gone before Kafka
    // still counts it a voter is a violation, never a race of the two reads).
    const noOrphanVoter = always(
      `controller ${southController} is never a voter without its pod`,
      async () => {
        const pods = await southPods();
        const q = await quorumStatus(bed, "east");
        const voter = q.voters.some((v) => v.id === southController);
        return voter && !pods.some((p) => p.endsWith(`-${southController}`))
          ? `Kafka counts ${southController} a voter, and its pod is gone`
          : undefined;
      },
      // Each sample runs Kafka's quorum tool (a JVM) as a client.
      { intervalMs: 1000, maxGapMs: 45_000 },
    );
    try {
      await noOrphanVoter.during(
        (async () => {
          await apply((c) => {
            c.spec["brokerRemoval"] = { policy: "Drain" };
            for (const p of south()?.nodePools ?? []) p.replicas = 0;
          });
          await eventually(
            "south empty, its controller no longer a voter",
            async () => {
              const pods = await southPods();
              const q = await quorumStatus(bed, "east");
              const voter = q.voters.some((v) => v.id === southController);
              const removing = (await current()).status?.kafka?.removing ?? [];
              return !voter && pods.length === 0 && removing.length === 0 ? true : undefined;
            },
            300,
            2000,
          );
        })(),
      );
    } finally {
      await noOrphanVoter.stop();
    }
    watching.abort();
    await watch;
    assert.ok(sawLeaving, "the claim showed the controller leaving the voters");
    const parts = await describeTopic(bed, "east", "spread");
    const clusterOf = new Map(bed.nodes.map((n) => [n.id, n.cluster]));
    for (const p of parts) {
      assert.ok(!p.replicas.includes(southBroker), `spread-${p.partition} still on south`);
      assert.equal(
        new Set(p.replicas.map((r) => clusterOf.get(r))).size,
        3,
        `spread-${p.partition} over 3 clusters`,
      );
    }
    await unregistered(southBroker);
    await apply((c) => {
      c.spec.clusters = c.spec.clusters.filter((x) => x.name !== "south");
    });
    await bed.waitReady(180);
    assert.equal(
      (await current()).status?.conditions?.find((x) => x.type === "Synced")?.status,
      "True",
    );
    assert.equal((await quorumStatus(bed, "east")).voters.length, 3);
  });

  test("a region lost for good and replaced in one change: north's replicas re-created in south from the in-sync ones, its voter replaced, its broker unregistered, its managed resources released; nothing in east or west restarts", async (t) => {
    const podUids = async (cluster: string): Promise<string[]> =>
      (
        (await bed.remotes.get(cluster)?.list("v1", "Pod", { namespace: bed.namespace }))?.items ??
        []
      )
        .map((p) => `${p.metadata.name ?? ""}/${p.metadata.uid ?? ""}`)
        .sort();
    const survivors = { east: await podUids("east"), west: await podUids("west") };
    const north = bed.nodes.filter((n) => n.cluster === "north");
    const northBroker = north.find((n) => n.roles.includes("broker"))?.id ?? -1;
    const northController = north.find((n) => n.roles.includes("controller"))?.id ?? -1;
    const acksAtLoss = producer.acks.length;
    await bed.stopCluster("north");
    log(`north lost after ${acksAtLoss} acknowledgements`);

    // Every condition the claim shows on the way, however briefly.
    const seen = new Set<string>();
    const watching = new AbortController();
    const watch = bed.central
      .watch<Claim>(claim.apiVersion, claim.kind, {
        namespace: "team-a",
        resourceVersion: (await current()).metadata.resourceVersion ?? "",
        timeoutSeconds: 900,
        signal: watching.signal,
        onEvent: (e) => {
          for (const c of e.object.status?.conditions ?? []) {
            const key = `${c.type}/${(c as { reason?: string }).reason ?? ""}`;
            if (c.status !== "True" || seen.has(key)) continue;
            seen.add(key);
            log(`${key}: ${c.message ?? ""}`);
          }
        },
      })
      .catch((err: unknown) => {
        if (!watching.signal.aborted) throw err;
      });
    t.after(async () => {
      watching.abort();
      await watch;
    });

    // North dropped and south added in its place: refused until north is given up.
    await apply((c) => {
      c.spec.clusters = c.spec.clusters.filter((x) => x.name !== "north");
      c.spec.clusters.push(southCluster());
    });
    const refused = await eventually("refused without the abandon mark", async () => {
      const s = (await current()).status?.conditions?.find((x) => x.type === "Synced");
      return s?.status === "False" && s.message?.includes("mark its ProviderConfig abandoned")
        ? s
        : undefined;
    });
    log(`refused: ${refused.message ?? ""}`);
    assert.deepEqual(await southPods(), [], "nothing was started in south");

    await bed.central.apply(
      {
        apiVersion: groups.remote,
        kind: "ProviderConfig",
        metadata: { name: "north", annotations: { "remote.stretchkafka.dev/abandon": "true" } },
      },
      { fieldManager: "test-abandon" },
    );
    await eventually(
      "south runs, north's voter is replaced by south's, north's broker holds nothing",
      async () => {
        if ((await southPods()).length !== 2) return undefined;
        const q = await quorumStatus(bed, "east");
        const voters = q.voters.map((v) => v.id);
        if (voters.includes(northController) || voters.length !== 3) return undefined;
        const parts = await describeAll(bed, "east");
        return parts.some((p) => p.replicas.includes(northBroker)) ? undefined : true;
      },
      420,
      3000,
    );
    await bed.waitReady(300);
    await bed.kafka.readNodes();
    const clusterOf = new Map(bed.nodes.map((n) => [n.id, n.cluster]));
    const southController = bed.nodes.find(
      (n) => n.cluster === "south" && n.roles.includes("controller"),
    )?.id;
    const q = await quorumStatus(bed, "east");
    assert.ok(
      q.voters.some((v) => v.id === southController),
      "south's controller is a voter",
    );
    // Every partition again one replica in each cluster, all in sync.
    for (const p of await describeAll(bed, "east")) {
      assert.deepEqual(
        p.replicas.map((r) => clusterOf.get(r)).sort(),
        ["east", "south", "west"],
        `${p.topic}-${p.partition}: ${p.replicas.join(",")}`,
      );
      assert.equal(p.isr.length, 3, `${p.topic}-${p.partition} in sync: ${p.isr.join(",")}`);
    }
    await unregistered(northBroker);
    const done = await eventually("the claim no longer tracks north", async () => {
      const c = await current();
      return (c.status?.kafka?.removing ?? []).length === 0 ? c : undefined;
    });
    assert.deepEqual(
      done.status?.kafka?.formerBootstrapControllers?.map((f) => f.id),
      [northController],
      "north's controller keeps its place in the bootstrap list",
    );
    // North's managed resources were released without a call to its API server.
    for (const kind of ["RemoteObjectSet", ...managedKinds.map((k) => k.kind)]) {
      const left = (await bed.central.list<Managed>(groups.remote, kind)).items.filter(
        (mr) => mr.spec.providerConfigRef.name === "north",
      );
      assert.deepEqual(
        left.map((mr) => mr.metadata.name),
        [],
        `${kind} of north left`,
      );
    }
    for (const want of ["DataAtRisk/LostClusterReplicas", "QuorumAtRisk/LostClusterVoters"])
      assert.ok(seen.has(want), `the claim said ${want}; it said ${[...seen].join(", ")}`);
    assert.deepEqual(
      { east: await podUids("east"), west: await podUids("west") },
      survivors,
      "no pod in east or west restarted",
    );
    assert.ok(producer.acks.length > acksAtLoss, "the stream went on");
    assert.equal(producer.failure, undefined);
  });

  test("the producer ran through it all: nothing acknowledged lost or duplicated, no error", async () => {
    await assertNothingLost(bed, producer, topic);
  });
});
