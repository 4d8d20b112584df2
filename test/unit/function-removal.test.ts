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
import type { KafkaLive, XStretchKafkaStatus } from "../../apis/index.ts";
import type { KubeObject } from "../../functions/render.ts";
import { kafkaReports, runExample, statusOf } from "./function-fixtures.ts";

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
