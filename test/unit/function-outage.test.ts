/**
 * A cluster that does not answer, as the function reads it: what the provider
 * last saw there is history. Its pods are reported as last seen with the
 * time the outage began and never counted as ready or current, and the
 * standalone engine's Ready names the outage instead of "Creating". Remote
 * objects that managed resources of a lost central cluster manage are the
 * restore case (Degraded NotRestored).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Ready, type RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { labels, type XStretchKafkaStatus } from "../../apis/index.ts";
import { engineReadyCondition, readyCondition, type KubeObject } from "../../functions/render.ts";
import { everyNodeCurrent } from "../../functions/stretch-kafka/upgrade.ts";
import { compositeReadiness } from "../../functions/stretch-kafka/compose.ts";
import { annotations } from "../../functions/stretch-kafka/names.ts";
import type { ObservedResources } from "../../functions/stretch-kafka/observed.ts";
import { observedFrom, podSetsCurrent, runExample } from "./function-fixtures.ts";

const first = runExample(() => undefined);
const podSets = new Set(podSetsCurrent(first).map((m) => m.metadata.name));
/** Everything the first run asked for, Ready, with every pod Ready and current. */
const running: KubeObject[] = [
  ...podSetsCurrent(first),
  ...observedFrom(first, (mr) => (podSets.has(mr.metadata.name) ? undefined : {})),
].map((m) => ({
  ...m,
  status: {
    ...(m["status"] as Record<string, unknown>),
    conditions: [
      { type: "Synced", status: "True", reason: "ReconcileSuccess" },
      { type: "Ready", status: "True", reason: "Available" },
    ],
  },
}));

const clusterOf = (m: KubeObject): string | undefined => m.metadata.labels?.[labels.stretchCluster];

/** `running`, the resources of the clusters `which` picks reporting `conditions` (the i-th of them) instead. */
function reporting(
  which: (cluster: string | undefined) => boolean,
  conditions: (m: KubeObject, i: number) => Record<string, unknown>[],
): KubeObject[] {
  let i = 0;
  return running.map((m) =>
    which(clusterOf(m))
      ? {
          ...m,
          status: { ...(m["status"] as Record<string, unknown>), conditions: conditions(m, i++) },
        }
      : m,
  );
}

/** West's resources as the provider reports them once west stops answering, at times `at`. */
function westGone(at: (i: number) => string): KubeObject[] {
  return reporting(
    (c) => c === "west",
    (_m, i) => [
      {
        type: "Synced",
        status: "False",
        reason: "ClusterUnreachable",
        message: "cluster west (https://127.0.0.1:1) is unreachable: connect ECONNREFUSED",
        lastTransitionTime: at(i),
      },
      { type: "Ready", status: "Unknown", reason: "Unavailable" },
    ],
  );
}

const statusOf = (r: RunFunctionResponse): XStretchKafkaStatus =>
  r.desired?.composite?.resource?.["status"] as XStretchKafkaStatus;

test("the fixture is a running cluster: every cluster ready, every pod counted", () => {
  assert.ok(running.some((m) => clusterOf(m) === "west"));
  const s = statusOf(runExample(() => undefined, statusOf(first), running));
  for (const c of s.clusters ?? []) {
    assert.equal(c.ready, true, `${c.name} ready`);
    assert.equal(c.pods?.ready, c.pods?.total, `${c.name} pods`);
  }
});

test("an unreachable cluster's pods are as last seen, with the time, and never ready", () => {
  const times = ["2026-12-05T06:10:05Z", "2026-12-05T06:10:01Z", "2026-12-05T06:10:09Z"];
  const observed = westGone((i) => times[i % times.length] ?? "");
  const r = runExample(() => undefined, statusOf(first), observed);
  const s = statusOf(r);
  const west = s.clusters?.find((c) => c.name === "west");
  assert.ok(west);
  assert.equal(west.reachable, false);
  assert.equal(west.ready, false);
  assert.equal(west.unreachableSince, "2026-12-05T06:10:01Z", "the earliest report");
  assert.equal(west.pods?.ready, undefined, "no ready count for a cluster nobody can see");
  assert.equal(west.pods?.current, undefined);
  assert.deepEqual(west.pods?.lastSeen, { ready: west.pods?.total, current: west.pods?.total });
  assert.match(west.message ?? "", /unreachable since 2026-12-05T06:10:01Z; its pods as last seen/);
  // The summary counts only what is seen ready.
  const seenReady = (s.clusters ?? [])
    .filter((c) => c.name !== "west")
    .reduce((n, c) => n + (c.pods?.ready ?? 0), 0);
  const total = (s.clusters ?? []).reduce((n, c) => n + (c.pods?.total ?? 0), 0);
  assert.equal(s.summary?.nodes, `${String(seenReady)}/${String(total)}`);
  assert.ok(seenReady < total);

  const degraded = r.conditions.find((c) => c.type === "Degraded");
  assert.ok(degraded);
  assert.equal(degraded.reason, "ClusterUnavailable");
  assert.match(degraded.message ?? "", /cluster west \(since 2026-12-05T06:10:01Z\) unreachable/);
});

test("Ready names the outage on the standalone engine; Crossplane's says Creating", () => {
  const r = runExample(
    () => undefined,
    statusOf(first),
    westGone(() => "2026-12-05T06:10:00Z"),
  );
  const crossplane = readyCondition(r);
  assert.equal(crossplane.reason, "Creating");
  const engine = engineReadyCondition(r);
  assert.equal(engine.status, "False");
  assert.equal(engine.reason, "ClusterUnavailable");
  assert.match(engine.message ?? "", /cluster west .*unreachable.*Unready resources: west-/);
  // Without an outage the engine's Ready is Crossplane's.
  const fine = runExample(() => undefined, statusOf(first), running);
  assert.deepEqual(engineReadyCondition(fine), readyCondition(fine));
  const creating = runExample(() => undefined);
  assert.deepEqual(engineReadyCondition(creating), readyCondition(creating));
});

test("the composite's readiness is stated, as Crossplane would derive it and without its list of unready resources", () => {
  // Crossplane's derived Ready names the unready resources, so each one
  // turning Ready would rewrite the composite (watch events its breaker counts).
  const creating = runExample(() => undefined);
  assert.equal(creating.desired?.composite?.ready, Ready.READY_FALSE);
  assert.deepEqual(readyCondition(creating), {
    type: "Ready",
    status: "False",
    reason: "Creating",
  });
  const fine = runExample(() => undefined, statusOf(first), running);
  assert.ok(
    Object.values(fine.desired?.resources ?? {}).every((r) => r.ready === Ready.READY_TRUE),
  );
  assert.equal(fine.desired?.composite?.ready, Ready.READY_TRUE);
  // One resource not ready is enough to hold the composite back.
  const oneDown = runExample(
    () => undefined,
    statusOf(first),
    reporting(
      (c) => c === "west",
      () => [{ type: "Ready", status: "False", reason: "Creating" }],
    ),
  );
  assert.equal(oneDown.desired?.composite?.ready, Ready.READY_FALSE);
  // A resource an earlier step composed without a readiness leaves it to Crossplane.
  const resources = fine.desired.resources;
  const [resource] = Object.values(resources);
  assert.ok(resource);
  assert.equal(
    compositeReadiness({ ...resources, earlier: { ...resource, ready: Ready.READY_UNSPECIFIED } }),
    Ready.READY_UNSPECIFIED,
  );
});

test("an unreachable cluster's podsets never count as current (the upgrade gate)", () => {
  const rollout = (m: KubeObject): string => m.metadata.annotations?.[annotations.rollout] ?? "";
  const asObserved = (objs: KubeObject[]): ObservedResources =>
    Object.fromEntries(
      objs.map((m) => [m.metadata.annotations?.["crossplane.io/composition-resource-name"], m]),
    ) as ObservedResources;
  const sets = running.filter((m) => m.kind === "RemoteStrimziPodSet");
  const current = sets[0] ? rollout(sets[0]) : "";
  assert.ok(current);
  assert.equal(everyNodeCurrent(asObserved(running), current), true);
  assert.equal(
    everyNodeCurrent(asObserved(westGone(() => "2026-12-05T06:10:00Z")), current),
    false,
  );
});

test("remote objects managed by resources this central cluster does not have: Degraded NotRestored, naming the clusters and the restore; none is written into status", () => {
  // A rebuilt central cluster without its backup: every managed resource found its remote object managed by another.
  const observed = reporting(
    (c) => c !== "east",
    (m) => [
      {
        type: "Synced",
        status: "False",
        reason: "ManagedByUnknownResource",
        message: `ConfigMap kafka/x in cluster ${clusterOf(m) ?? ""} is already managed by RemoteConfigMap/old, which this central cluster does not have: nothing was changed`,
      },
      { type: "Ready", status: "False", reason: "Unavailable" },
    ],
  );
  const r = runExample(() => undefined, undefined, observed);
  const degraded = r.conditions.find((c) => c.type === "Degraded");
  assert.equal(degraded?.reason, "NotRestored");
  assert.match(degraded.message ?? "", /Kafka already runs in cluster west, north under managed/);
  assert.match(degraded.message ?? "", /stretch-kafka restore/);
  const west = statusOf(r).clusters?.find((c) => c.name === "west");
  assert.match(
    west?.message ?? "",
    /object\(s\) run under managed resources this central cluster does not have/,
  );
  assert.equal((west as Record<string, unknown> | undefined)?.["notOurs"], undefined);
  // The same resources failing for another reason are no restore case.
  const other = runExample(
    () => undefined,
    statusOf(first),
    westGone(() => "2026-12-05T06:10:00Z"),
  );
  assert.notEqual(other.conditions.find((c) => c.type === "Degraded")?.reason, "NotRestored");
});
