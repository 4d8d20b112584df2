/**
 * Brokers that join take their share (functions/stretch-kafka/rebalance.ts)
 * through the whole function: a broker added to a running cluster is
 * remembered in the status until the provider reports nothing is left to move
 * onto it; the provider is asked to move replicas onto it only while nothing
 * else moves data or restarts nodes, and the Rebalancing condition says what
 * it waits for.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Status, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import type { KafkaAdmin, KafkaLive, XStretchKafkaStatus } from "../../apis/index.ts";
import type { KubeObject } from "../../functions/render.ts";
import { observedFrom, runExample, statusOf } from "./function-fixtures.ts";

interface Pool {
  name: string;
  replicas: number;
}
type Spec = Record<string, unknown> & {
  clusters: { name: string; nodePools: Pool[]; maintenance?: boolean }[];
};
interface Condition {
  type: string;
  status: Status;
  reason: string;
  message?: string;
}
const False = Status.STATUS_CONDITION_FALSE;

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

const rebalancing = (r: RunFunctionResponse): Condition | undefined =>
  (r.conditions as Condition[]).find((c) => c.type === "Rebalancing");
/**
 * What the carrier's RemoteKafka asks the provider to move, if anything: one
 * of the three carries the asks (the first cluster by name), the others none.
 */
/** The admin channel as the carrier's RemoteKafka has it. */
const carrierAdmin = (r: RunFunctionResponse): KafkaAdmin | undefined =>
  Object.values(r.desired?.resources ?? {})
    .map((d) => d.resource as KubeObject & { spec: { forProvider: { kafkaAdmin?: KafkaAdmin } } })
    .filter((mr) => mr.kind === "RemoteKafka")
    .map((mr) => mr.spec.forProvider.kafkaAdmin)
    .find((a) => a?.carrier === true);

const asked = (r: RunFunctionResponse): KafkaAdmin["rebalance"] => {
  const admins = Object.values(r.desired?.resources ?? {})
    .map((d) => d.resource as KubeObject & { spec: { forProvider: { kafkaAdmin?: KafkaAdmin } } })
    .filter((mr) => mr.kind === "RemoteKafka")
    .map((mr) => mr.spec.forProvider.kafkaAdmin);
  assert.equal(admins.length, 3);
  const carriers = admins.filter((a) => a?.carrier === true);
  assert.equal(carriers.length, 1, "one RemoteKafka carries the asks");
  for (const a of admins.filter((x) => x?.carrier !== true)) {
    assert.equal(a?.carrier, false);
    assert.equal(a.rebalance, undefined, "the others carry no rebalance");
    assert.equal(a.movesWaitFor, undefined, "nor what data moves wait for");
  }
  return carriers[0]?.rebalance;
};

const eastBrokers = (s: Spec): Pool => {
  const p = s.clusters.find((c) => c.name === "east")?.nodePools.find((x) => x.name === "brokers");
  if (!p) throw new Error("no east/brokers pool");
  return p;
};
const scaleUp = (s: Spec): void => {
  eastBrokers(s).replicas = 3;
};

/**
 * Everything `r` asked for as the provider reports it once it is all there:
 * every managed resource Ready, every pod Ready and current, and Kafka's view
 * on the RemoteKafka resources.
 */
function allThere(r: RunFunctionResponse, live: KafkaLive): KubeObject[] {
  const ok = [
    { type: "Synced", status: "True", reason: "ReconcileSuccess" },
    { type: "Ready", status: "True", reason: "Available" },
  ];
  return observedFrom(r, (mr) => {
    if (mr.kind === "RemoteStrimziPodSet") {
      const pods = (mr["spec"] as { forProvider: { manifest: { spec: { pods: unknown[] } } } })
        .forProvider.manifest.spec.pods.length;
      return { conditions: ok, atProvider: { pods, readyPods: pods, currentPods: pods } };
    }
    if (mr.kind === "RemoteKafka") return { conditions: ok, atProvider: { kafka: live } };
    return { conditions: ok, atProvider: {} };
  });
}

const live: KafkaLive = { reachable: true };
/** Kafka's view with every broker of `status` registered, each holding `replicas`. */
const holdingEach = (status: XStretchKafkaStatus, replicas: number): KafkaLive => ({
  reachable: true,
  brokers: (status.kafka?.brokers ?? []).map((id) => ({
    id,
    cluster: "any",
    state: "Registered" as const,
    replicas,
  })),
});
/** A run settled with `live`: the same input again, with everything there. */
const settled = (
  mutate: (s: Spec) => void,
  status: XStretchKafkaStatus | undefined,
  k: KafkaLive,
): RunFunctionResponse => run(mutate, status, allThere(run(mutate, status), k));

const created = statusOf(settled(() => {}, undefined, live));
// The status a running cluster has (its brokers recorded), settled.
const running = statusOf(settled(() => {}, created, live));

test("a new cluster's brokers are not joining: there is no data yet", () => {
  const r = settled(() => {}, undefined, live);
  assert.equal(statusOf(r).kafka?.joiningBrokers, undefined);
  assert.equal(asked(r), undefined);
  assert.equal(rebalancing(r)?.status, False);
});

test("a broker added to a running cluster is remembered, and waits while its pod comes up", () => {
  const r = run(scaleUp, running);
  const added = statusOf(r).kafka?.brokers?.filter((id) => !running.kafka?.brokers?.includes(id));
  assert.equal(added?.length, 1);
  assert.deepEqual(statusOf(r).kafka?.joiningBrokers, added);
  assert.equal(asked(r), undefined, "nothing is asked while a node is not at the definition");
  const c = rebalancing(r);
  assert.equal(c?.reason, "WaitingForOtherChange");
  assert.match(c.message ?? "", new RegExp(`broker ${String(added[0])} joined; .* once`));
});

test("once every node is there, the provider is asked to move replicas onto it, with the claim's throttle", () => {
  const grown = statusOf(run(scaleUp, running));
  const joining = grown.kafka?.joiningBrokers ?? [];
  const r = settled(
    (s) => {
      scaleUp(s);
      s["rebalance"] = { throttleBytesPerSecond: 2097152, maxPartitionMoves: 4 };
    },
    grown,
    live,
  );
  assert.deepEqual(asked(r), {
    onto: joining,
    throttleBytesPerSecond: 2097152,
    maxPartitionMoves: 4,
  });
  assert.deepEqual(statusOf(r).kafka?.joiningBrokers, joining);
  assert.equal(rebalancing(r)?.reason, "NotAskedYet");
  // The defaults: 50 MiB/s, 2 partitions at once.
  assert.deepEqual(asked(settled(scaleUp, grown, live)), {
    onto: joining,
    throttleBytesPerSecond: 52428800,
    maxPartitionMoves: 2,
  });

  const moving: KafkaLive = {
    reachable: true,
    rebalance: {
      brokers: joining,
      state: "Moving",
      partitionsToMove: 7,
      replicaSpread: { now: 12, planned: 1 },
    },
  };
  const m = rebalancing(settled(scaleUp, grown, moving));
  assert.equal(m?.reason, "MovingReplicas");
  assert.match(m.message ?? "", /7 partition\(s\) to move, replica spread 12 → 1/);

  // Done: forgotten, nothing asked any more.
  const done: KafkaLive = { reachable: true, rebalance: { brokers: joining, state: "Done" } };
  const after = settled(scaleUp, grown, done);
  assert.equal(statusOf(after).kafka?.joiningBrokers, undefined);
  assert.equal(asked(after), undefined);
  assert.equal(rebalancing(after)?.status, False);
  // And stays forgotten once the provider no longer reports it.
  assert.equal(statusOf(settled(scaleUp, statusOf(after), live)).kafka?.joiningBrokers, undefined);
});

test("a Done report for other brokers forgets only those", () => {
  const grown = statusOf(run(scaleUp, running));
  const joining = grown.kafka?.joiningBrokers ?? [];
  const other: KafkaLive = { reachable: true, rebalance: { brokers: [999], state: "Done" } };
  const r = settled(scaleUp, grown, other);
  assert.deepEqual(statusOf(r).kafka?.joiningBrokers, joining);
  assert.deepEqual(asked(r)?.onto, joining);
});

test("nothing is asked while another change is under way: a drain, maintenance", () => {
  const grown = statusOf(run(scaleUp, running));
  const drainWest = (s: Spec): void => {
    scaleUp(s);
    s["brokerRemoval"] = { policy: "Drain" };
    const west = s.clusters
      .find((c) => c.name === "west")
      ?.nodePools.find((p) => p.name === "brokers");
    if (west) west.replicas = 1;
  };
  const holding = holdingEach(grown, 5);
  const r = settled(drainWest, grown, holding);
  assert.ok((statusOf(r).kafka?.removing ?? []).length > 0, "a broker drains");
  assert.equal(asked(r), undefined);
  // What it waits for: the same words while it waits, the clause in the admin channel.
  assert.equal(rebalancing(r)?.reason, "WaitingForOtherChange");
  assert.match(carrierAdmin(r)?.movesWaitFor ?? "", /^the drain of broker \d+ is done$/);

  const maintenance = (s: Spec): void => {
    scaleUp(s);
    const north = s.clusters.find((c) => c.name === "north");
    if (north) north.maintenance = true;
  };
  const m = settled(maintenance, grown, live);
  assert.equal(asked(m), undefined);
  assert.equal(rebalancing(m)?.message, rebalancing(r)?.message);
  assert.match(carrierAdmin(m)?.movesWaitFor ?? "", /the maintenance of cluster north/);
  assert.deepEqual(statusOf(m).kafka?.joiningBrokers, grown.kafka?.joiningBrokers);
});

test("onScaleUp Off: a broker that joins takes only new partitions; nothing is remembered or asked", () => {
  const off = (s: Spec): void => {
    scaleUp(s);
    s["rebalance"] = { onScaleUp: "Off" };
  };
  const r = settled(off, statusOf(run(off, running)), live);
  assert.equal(statusOf(r).kafka?.joiningBrokers, undefined);
  assert.equal(asked(r), undefined);
  assert.equal(rebalancing(r)?.status, False);
});

test("a joining broker removed again is forgotten", () => {
  const grown = statusOf(run(scaleUp, running));
  const empty = holdingEach(grown, 0);
  // Scaled back down, what ran (the grown cluster) observed with Kafka's view.
  const r = run(() => {}, grown, allThere(run(scaleUp, grown), empty));
  assert.equal(statusOf(r).kafka?.joiningBrokers, undefined);
  assert.equal(asked(r), undefined);
});
