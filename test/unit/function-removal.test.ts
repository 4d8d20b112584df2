/**
 * Removing brokers (functions/stretch-kafka/removal.ts) through the whole
 * function: Kafka's live view, as the provider reports it on the RemoteKafka
 * resources, decides whether a broker may go; otherwise the change is refused
 * (nothing rendered) or the broker stays while its replicas are drained.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Severity,
  Status,
  type RunFunctionResponse,
} from "@crossplane-org/function-sdk-typescript";
import type { KafkaAdmin, KafkaLive, XStretchKafkaStatus } from "../../apis/index.ts";
import type { KubeObject } from "../../functions/render.ts";
import { kafkaReports, observedFrom, runExample, statusOf } from "./function-fixtures.ts";

interface Pool {
  name: string;
  replicas: number;
  removeNodeIds?: number[];
  nextNodeIds?: number[];
}
type Spec = Record<string, unknown> & { clusters: { name: string; nodePools: Pool[] }[] };

const run = (
  mutate: (s: Spec) => void,
  status?: XStretchKafkaStatus,
  observed: KubeObject[] = [],
): RunFunctionResponse =>
  runExample(
    (spec) => {
      mutate(spec as Spec);
    },
    status,
    observed,
    ["south"],
  );

const fatal = (r: RunFunctionResponse): string[] =>
  r.results.filter((x) => x.severity === Severity.SEVERITY_FATAL).map((x) => x.message);

const warnings = (r: RunFunctionResponse): string[] =>
  r.results.filter((x) => x.severity === Severity.SEVERITY_WARNING).map((x) => x.message);

const pool = (s: Spec, cluster: string, name: string): Pool => {
  const p = s.clusters.find((c) => c.name === cluster)?.nodePools.find((x) => x.name === name);
  if (!p) throw new Error(`no pool ${cluster}/${name}`);
  return p;
};

/** The running example: east brokers 0,1; north 3,4; west 6,7 (pools by name: brokers first). */
const running = statusOf(run(() => {}));

/** The RemoteKafka managed resources, as the provider reports Kafka's view on them. */
const kafkaSays = (live: KafkaLive, status = running, mutate: (s: Spec) => void = () => {}) =>
  kafkaReports(run(mutate, status), live);

function liveWith(replicas: Record<number, number>, extra: Partial<KafkaLive> = {}): KafkaLive {
  return {
    reachable: true,
    brokers: [0, 1, 3, 4, 6, 7].map((id) => ({
      id,
      cluster: id < 2 ? "east" : id < 5 ? "north" : "west",
      state: "Registered" as const,
      replicas: replicas[id] ?? 0,
      leaders: 0,
    })),
    ...extra,
  };
}

const podSetPods = (r: RunFunctionResponse, cluster: string, podSet: string): string[] => {
  const mr = r.desired?.resources[`${cluster}-podset-${podSet}`]?.resource as
    | { spec: { forProvider: { manifest: { spec: { pods: { metadata: { name: string } }[] } } } } }
    | undefined;
  return mr?.spec.forProvider.manifest.spec.pods.map((p) => p.metadata.name) ?? [];
};

test("the running example has the ids the tests below name", () => {
  assert.deepEqual(running.kafka?.brokers, [0, 1, 3, 4, 6, 7]);
  assert.deepEqual(
    podSetPods(
      run(() => {}, running),
      "west",
      "orders-brokers",
    ),
    ["orders-brokers-6", "orders-brokers-7"],
  );
});

test("scaling down is refused while Kafka cannot be asked, naming the broker and why", () => {
  const r = run((s) => (pool(s, "west", "brokers").replicas = 1), running);
  assert.deepEqual(fatal(r), [
    "spec.clusters[1].nodePools[1].replicas: removing broker 7 (cluster west, pool brokers) is refused: cannot tell whether it holds partition replicas (the provider has not asked Kafka yet); move them off first (set spec.brokerRemoval.policy to Drain to have them moved) or keep the broker",
  ]);
  assert.equal(r.desired?.composite, undefined, "nothing rendered: what runs stays as it is");
});

test("scaling down is refused while the broker holds replicas, and allowed once it holds none", () => {
  const shrink = (s: Spec): void => {
    pool(s, "west", "brokers").replicas = 1;
  };
  const holds = run(shrink, running, kafkaSays(liveWith({ 7: 12 })));
  assert.match(fatal(holds)[0] ?? "", /removing broker 7 .* it holds 12 partition replica\(s\)/);
  const empty = run(shrink, running, kafkaSays(liveWith({ 6: 12, 7: 0 })));
  assert.deepEqual(fatal(empty), []);
  assert.deepEqual(podSetPods(empty, "west", "orders-brokers"), ["orders-brokers-6"]);
  const st = statusOf(empty);
  assert.deepEqual(st.kafka?.retiredBrokers, [7], "to be unregistered once fenced");
  assert.deepEqual(st.kafka.brokers, [0, 1, 3, 4, 6]);
});

test("removeNodeIds picks the broker that goes; Kafka is still asked about that one", () => {
  const shrink = (s: Spec): void => {
    const p = pool(s, "west", "brokers");
    p.replicas = 1;
    p.removeNodeIds = [6];
  };
  assert.match(
    fatal(run(shrink, running, kafkaSays(liveWith({ 6: 3 }))))[0] ?? "",
    /removing broker 6 /,
  );
  const r = run(shrink, running, kafkaSays(liveWith({ 7: 3 })));
  assert.deepEqual(podSetPods(r, "west", "orders-brokers"), ["orders-brokers-7"]);
  const grown = run((s) => {
    const p = pool(s, "west", "brokers");
    p.replicas = 2;
    p.nextNodeIds = [20];
  }, statusOf(r));
  assert.deepEqual(podSetPods(grown, "west", "orders-brokers"), [
    "orders-brokers-7",
    "orders-brokers-20",
  ]);
  assert.equal(
    statusOf(grown).nodeIds?.next,
    21,
    "6 is never given out again, nor anything below 21",
  );
  const reused = run((s) => {
    const p = pool(s, "west", "brokers");
    p.replicas = 2;
    p.nextNodeIds = [6];
  }, statusOf(r));
  assert.match(
    fatal(reused)[0] ?? "",
    /nextNodeIds: node id 6 was given out before .*pick 9 or higher/,
  );
  assert.match(
    warnings(run((s) => (pool(s, "west", "brokers").removeNodeIds = [7]), running))[0] ?? "",
    /removeNodeIds: node id 7 is removed only when replicas shrinks/,
  );
});

test("Drain keeps the broker while the provider moves its replicas, then removes it", () => {
  const drain = (s: Spec): void => {
    pool(s, "west", "brokers").replicas = 1;
    s["brokerRemoval"] = { policy: "Drain", throttleBytesPerSecond: 2097152 };
  };
  const r = run(drain, running, kafkaSays(liveWith({ 7: 12 })));
  assert.deepEqual(fatal(r), []);
  assert.deepEqual(podSetPods(r, "west", "orders-brokers"), [
    "orders-brokers-6",
    "orders-brokers-7",
  ]);
  const st = statusOf(r);
  assert.deepEqual(st.kafka?.removing, [
    { id: 7, cluster: "west", pool: "brokers", replicasLeft: 12 },
  ]);
  const admin = (
    r.desired?.resources["east-kafka-orders"]?.resource as {
      spec: { forProvider: { kafkaAdmin: { drain?: unknown } } };
    }
  ).spec.forProvider.kafkaAdmin;
  assert.deepEqual(admin.drain, { nodes: [7], throttleBytesPerSecond: 2097152 });
  const draining = r.conditions.find((c) => c.type === "Draining");
  assert.equal(draining?.reason, "MovingReplicas");
  assert.match(draining.message ?? "", /broker 7 \(west\/brokers\): 12 replica\(s\) left/);

  const done = run(drain, st, kafkaSays(liveWith({ 7: 0 }), st, drain));
  assert.deepEqual(podSetPods(done, "west", "orders-brokers"), ["orders-brokers-6"]);
  assert.equal(statusOf(done).kafka?.removing, undefined);
  assert.deepEqual(statusOf(done).kafka?.retiredBrokers, [7]);
  assert.equal(
    done.conditions.find((c) => c.type === "Draining")?.status,
    Status.STATUS_CONDITION_FALSE,
  );

  // Kafka forgets the retired broker (unregistered): so does the status.
  const forgotten = liveWith({}, {});
  forgotten.brokers?.push({ id: 7, cluster: "", state: "NotRegistered", replicas: 0, leaders: 0 });
  const later = run(drain, statusOf(done), kafkaSays(forgotten, statusOf(done), drain));
  assert.equal(statusOf(later).kafka?.retiredBrokers, undefined);
});

test("dropping a cluster whose brokers hold data is refused under every policy but Unchecked", () => {
  const drop = (s: Spec): void => {
    s.clusters = s.clusters.filter((c) => c.name !== "west");
  };
  for (const policy of ["Refuse", "Drain"]) {
    const r = run(
      (s) => {
        drop(s);
        s["brokerRemoval"] = { policy };
      },
      running,
      kafkaSays(liveWith({ 6: 4, 7: 4 })),
    );
    const msgs = fatal(r).filter((m) => m.includes("removing broker"));
    assert.equal(msgs.length, 2, msgs.join("\n"));
    assert.match(
      msgs[0] ?? "",
      /scale the pool to 0 replicas first with spec.brokerRemoval.policy Drain/,
    );
  }
  const unchecked = run((s) => {
    drop(s);
    s["brokerRemoval"] = { policy: "Unchecked" };
  }, running);
  assert.ok(
    !fatal(unchecked).some((m) => m.includes("removing broker")),
    fatal(unchecked).join("\n"),
  );
});

test("dynamic quorum: a removed controller stays until Kafka no longer counts it a voter; risk needs consent", () => {
  const dynamic = (s: Spec): void => {
    s["quorum"] = { mode: "dynamic" };
  };
  const was = statusOf(run(dynamic));
  const westController = 8;
  assert.ok(was.kafka?.controllers?.includes(westController));
  // A second controller in west and in north (5, no cluster with half): no consent needed.
  const grow = (s: Spec): void => {
    dynamic(s);
    pool(s, "west", "controllers").replicas = 2;
    pool(s, "north", "controllers").replicas = 2;
  };
  const grown = run(grow, was);
  assert.deepEqual(fatal(grown), []);
  const added = statusOf(grown);
  const admin = (r: RunFunctionResponse): { voters?: { id: number }[] } =>
    (
      r.desired?.resources["east-kafka-orders"]?.resource as {
        spec: { forProvider: { kafkaAdmin: { voters?: { id: number }[] } } };
      }
    ).spec.forProvider.kafkaAdmin;
  const newIds = (added.kafka?.controllers ?? []).filter((id) => id > 8);
  assert.equal(newIds.length, 2);
  assert.deepEqual(
    admin(grown).voters?.map((v) => v.id),
    [2, 5, 8, ...newIds],
    "the new controllers are wanted as voters",
  );
  // Back to one each: while Kafka counts them voters they stay, out of the wanted voters.
  const voters = (ids: number[]): KafkaLive => ({
    reachable: true,
    quorum: { leaderId: 2, voters: ids.map((id) => ({ id, caughtUp: true })) },
  });
  const shrinking = run(dynamic, added, kafkaSays(voters([2, 5, 8, ...newIds]), added, grow));
  assert.deepEqual(fatal(shrinking), []);
  assert.equal(podSetPods(shrinking, "west", "orders-controllers").length, 2);
  assert.deepEqual(
    admin(shrinking).voters?.map((v) => v.id),
    [2, 5, 8],
  );
  assert.deepEqual(
    statusOf(shrinking).kafka?.removing?.map((r) => [r.id, r.voter]),
    newIds.map((id) => [id, true]),
  );
  assert.match(
    shrinking.conditions.find((c) => c.type === "Draining")?.message ?? "",
    /controller \d+ \(\w+\/controllers\): leaving the quorum's voters/,
  );
  // Once Kafka no longer counts them, their pods go.
  const gone = run(dynamic, added, kafkaSays(voters([2, 5, 8]), added, grow));
  assert.deepEqual(podSetPods(gone, "west", "orders-controllers"), ["orders-controllers-8"]);
  assert.deepEqual(podSetPods(gone, "north", "orders-controllers"), ["orders-controllers-5"]);

  // Two clusters' controllers gone: losing one more would lose the majority.
  const risky = (s: Spec): void => {
    dynamic(s);
    pool(s, "west", "controllers").replicas = 0;
    pool(s, "north", "controllers").replicas = 0;
  };
  assert.match(
    fatal(run(risky, was))[0] ?? "",
    /^spec\.clusters: after this change of controllers .*refused unless spec\.quorum\.acceptQuorumRisk is true/,
  );
  const consented = run((s) => {
    risky(s);
    s["quorum"] = { mode: "dynamic", acceptQuorumRisk: true };
  }, was);
  assert.ok(
    !fatal(consented).some((m) => m.includes("acceptQuorumRisk")),
    fatal(consented).join("\n"),
  );
});

/** What the provider reports: Kafka's view on the RemoteKafkas, and `abandoned` clusters' managed resources Abandoned. */
const reported = (r: RunFunctionResponse, live: KafkaLive, abandoned: string[]): KubeObject[] =>
  observedFrom(r, (mr) => {
    const cluster = mr.metadata.labels?.["stretchkafka.dev/cluster"] ?? "";
    if (abandoned.includes(cluster))
      return { conditions: [{ type: "Synced", status: "False", reason: "Abandoned" }] };
    return mr.kind === "RemoteKafka" ? { atProvider: { kafka: live } } : undefined;
  });

/** Kafka's view: each broker's replicas, all registered, and the voters caught up. */
function view(
  st: XStretchKafkaStatus,
  replicas: Record<number, number>,
  voters: number[],
): KafkaLive {
  const clusterOf = new Map(
    (st.nodeIds?.pools ?? []).flatMap((p) => p.ids.map((id) => [id, p.cluster] as const)),
  );
  return {
    reachable: true,
    brokers: Object.entries(replicas).map(([id, n]) => ({
      id: Number(id),
      cluster: clusterOf.get(Number(id)) ?? "",
      state: "Registered" as const,
      replicas: n,
      leaders: 0,
    })),
    quorum: { leaderId: 2, voters: voters.map((id) => ({ id, caughtUp: true })) },
  };
}

const adminOf = (x: RunFunctionResponse): KafkaAdmin =>
  (
    x.desired?.resources["east-kafka-orders"]?.resource as {
      spec: { forProvider: { kafkaAdmin: KafkaAdmin } };
    }
  ).spec.forProvider.kafkaAdmin;

const conditionOf = (x: RunFunctionResponse, type: string): { reason: string; message: string } => {
  const c = x.conditions.find((y) => y.type === type);
  return { reason: c?.reason ?? "", message: c?.message ?? "" };
};

/** Every pod east and west run, as rendered: unchanged means nothing there restarts. */
const eastWestPods = (x: RunFunctionResponse): unknown[] =>
  Object.entries(x.desired?.resources ?? {})
    .filter(([k]) => /^(east|west)-podset-/.test(k))
    .map(([, d]) => (d.resource as { spec: { forProvider: unknown } }).spec.forProvider);

const dynamic = (s: Spec): void => {
  s["quorum"] = { mode: "dynamic" };
};

/** A fourth cluster, south, shaped like west. */
const withSouth = (s: Spec): void => {
  const west = s.clusters.find((c) => c.name === "west");
  s.clusters.push({
    ...JSON.parse(JSON.stringify(west)),
    name: "south",
    providerConfigRef: { name: "south" },
  } as Spec["clusters"][number]);
};

const without = (s: Spec, cluster: string): void => {
  s.clusters = s.clusters.filter((c) => c.name !== cluster);
};

test("a cluster lost for good (dropped while its ProviderConfig is abandoned) leaves at once: its replicas re-created, its voter removed, no running node restarted", () => {
  const four = (s: Spec): void => {
    dynamic(s);
    withSouth(s);
  };
  const dropNorth = (s: Spec): void => {
    four(s);
    without(s, "north");
  };
  const was = statusOf(run(four, statusOf(run(four))));
  const before = run(four, was);
  const northController = 5;
  assert.ok(was.kafka?.bootstrapControllers?.includes(northController));
  const brokers = was.kafka?.brokers ?? [];
  const lostView = view(was, Object.fromEntries(brokers.map((id) => [id, 4])), [
    ...(was.kafka?.controllers ?? []),
  ]);

  // Without the mark: refused, saying how to give the cluster up.
  const refused = run(dropNorth, was, reported(before, lostView, []));
  assert.match(
    fatal(refused).find((m) => m.includes("broker 3")) ?? "",
    /it holds 4 partition replica\(s\); .*if cluster north is lost for good, mark its ProviderConfig abandoned/,
  );
  assert.equal(refused.desired?.composite, undefined, "nothing rendered");

  // With it: north leaves the plan at once, whatever the broker removal policy.
  const r = run(dropNorth, was, reported(before, lostView, ["north"]));
  assert.deepEqual(fatal(r), []);
  assert.deepEqual(
    Object.keys(r.desired?.resources ?? {}).filter((k) => k.startsWith("north-")),
    [],
    "north's managed resources are no longer desired (the provider releases them)",
  );
  const st = statusOf(r);
  assert.deepEqual(st.kafka?.removing, [
    { id: 3, cluster: "north", pool: "brokers", replicasLeft: 4, lost: true },
    { id: 4, cluster: "north", pool: "brokers", replicasLeft: 4, lost: true },
    { id: northController, cluster: "north", pool: "controllers", voter: true, lost: true },
  ]);
  assert.deepEqual(adminOf(r).drain?.nodes, [3, 4], "their replicas are re-created elsewhere");
  // North's controller stays listed (with the address it had) until status has
  // recorded that address: the RemoteKafka's spec is the one other place it is.
  const northVoter = adminOf(before).voters?.find((v) => v.id === northController);
  assert.ok(northVoter);
  assert.deepEqual(
    adminOf(r).voters?.find((v) => v.id === northController),
    northVoter,
    "kept until recorded",
  );
  // The status write of that pass was lost: the next pass (north's managed
  // resources still being released) finds the address again where it was
  // kept, and still keeps it.
  const northMrs = reported(before, lostView, ["north"]).filter(
    (mr) => mr.metadata.labels?.["stretchkafka.dev/cluster"] === "north",
  );
  const lostWrite = run(dropNorth, was, [...reported(r, lostView, []), ...northMrs]);
  assert.deepEqual(
    statusOf(lostWrite).kafka?.formerBootstrapControllers,
    statusOf(r).kafka?.formerBootstrapControllers,
  );
  assert.ok(adminOf(lostWrite).voters?.some((v) => v.id === northController));
  // Recorded: the voter is removed.
  const recorded = run(dropNorth, statusOf(r), [...reported(r, lostView, []), ...northMrs]);
  assert.ok(
    !adminOf(recorded).voters?.some((v) => v.id === northController),
    "north's voter is removed once its address is recorded",
  );
  assert.equal(conditionOf(r, "DataAtRisk").reason, "LostClusterReplicas");
  assert.match(conditionOf(r, "DataAtRisk").message, /cluster north is lost for good/);
  assert.equal(conditionOf(r, "QuorumAtRisk").reason, "LostClusterVoters");
  assert.match(
    conditionOf(r, "Draining").message,
    /broker 3 \(north\/brokers, lost for good\): 4 replica\(s\) left to re-create elsewhere/,
  );
  // North's controller was a bootstrap controller: its address stays in every
  // running node's controller.quorum.bootstrap.servers, so none restarts.
  assert.deepEqual(st.kafka.bootstrapControllers, was.kafka?.bootstrapControllers);
  assert.deepEqual(
    st.kafka.formerBootstrapControllers?.map((f) => f.id),
    [northController],
  );
  assert.deepEqual(eastWestPods(r), eastWestPods(before), "east and west render as they did");

  // Kafka re-created the replicas and removed the voter: the brokers are
  // retired (unregistered once fenced), nothing lost is left to track.
  const doneView = view(
    st,
    { ...Object.fromEntries(brokers.map((id) => [id, 6])), 3: 0, 4: 0 },
    (st.kafka.controllers ?? []).filter((id) => id !== northController),
  );
  const done = run(dropNorth, st, reported(r, doneView, []));
  assert.deepEqual(fatal(done), []);
  const after = statusOf(done);
  assert.equal(after.kafka?.removing, undefined);
  assert.deepEqual(after.kafka?.retiredBrokers, [3, 4]);
  assert.deepEqual(
    after.kafka.formerBootstrapControllers?.map((f) => f.id),
    [northController],
  );
  assert.equal(conditionOf(done, "QuorumAtRisk").reason, "SurvivesClusterLoss");
  assert.equal(conditionOf(done, "DataAtRisk").reason, "SurvivesClusterLoss");
  assert.equal(conditionOf(done, "Draining").reason, "NothingLeaving");
  assert.deepEqual(eastWestPods(done), eastWestPods(before), "still nothing restarted");
});

test("three clusters, one lost for good: dropping it alone is refused; with a replacement in the same change its share goes there", () => {
  const three = run(dynamic);
  const was = statusOf(run(dynamic, statusOf(three)));
  const before = run(dynamic, was);
  const lostView = view(was, { 0: 4, 1: 4, 3: 4, 4: 4, 6: 4, 7: 4 }, [2, 5, 8]);
  const alone = run(
    (s) => {
      dynamic(s);
      without(s, "north");
    },
    was,
    reported(before, lostView, ["north"]),
  );
  assert.ok(
    fatal(alone).some((m) =>
      /2 controller\(s\) in total; .*add a cluster in place of lost cluster north in the same change/.test(
        m,
      ),
    ),
    fatal(alone).join("\n"),
  );
  const replaced = run(
    (s) => {
      dynamic(s);
      withSouth(s);
      without(s, "north");
    },
    was,
    reported(before, lostView, ["north"]),
  );
  assert.deepEqual(fatal(replaced), []);
  const st = statusOf(replaced);
  assert.deepEqual(adminOf(replaced).drain?.nodes, [3, 4]);
  const south = (st.kafka?.controllers ?? []).filter((id) => id > 8);
  assert.equal(south.length, 1, "south runs a controller, wanted as a voter");
  // North's controller 5 stays listed until status has recorded its address.
  assert.deepEqual(
    adminOf(replaced).voters?.map((v) => v.id),
    [2, 8, ...south, 5],
  );
  assert.deepEqual(
    eastWestPods(replaced),
    eastWestPods(before),
    "east and west render as they did",
  );
});

test("a static quorum cannot drop a lost cluster's controller: refused, saying what it can do", () => {
  const before = run(withSouth, statusOf(run(withSouth)));
  const was = statusOf(before);
  const observed = reported(before, view(was, { 3: 4, 4: 4 }, []), ["north"]);
  const r = run(
    (s) => {
      withSouth(s);
      without(s, "north");
    },
    was,
    observed,
  );
  assert.deepEqual(fatal(r), [
    "spec.clusters: cluster north is lost for good, but a static quorum cannot drop its controller(s) 5 from controller.quorum.voters: keep cluster north in spec.clusters with its ProviderConfig abandoned (nothing is applied to it), and have its brokers' replicas re-created elsewhere by scaling its broker pools to 0 with spec.brokerRemoval.policy Drain; the quorum runs on the other controllers' majority and cannot lose another cluster (docs/operations.md, \"Replacing a lost cluster\")",
  ]);
  // What it can do: north stays, its brokers drained while nothing there is applied.
  const drained = run(
    (s) => {
      withSouth(s);
      pool(s, "north", "brokers").replicas = 0;
      s["brokerRemoval"] = { policy: "Drain" };
    },
    was,
    observed,
  );
  assert.deepEqual(fatal(drained), []);
  assert.deepEqual(
    statusOf(drained).kafka?.removing?.map((n) => n.id),
    [3, 4],
  );
});
