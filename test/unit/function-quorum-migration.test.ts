/**
 * A running static quorum migrated to a dynamic one
 * (functions/stretch-kafka/quorum-migration.ts) through the whole function:
 * kraft.version is asked for only once every node runs the change, the nodes
 * keep their static voters until Kafka reports kraft.version 1, and the
 * controllers stay as they are until every node runs the dynamic
 * configuration.
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
import { parseProperties } from "../../devbed/kafka/tools.ts";
import { kafkaReports, podSetsCurrent, runExample, statusOf } from "./function-fixtures.ts";

type Spec = Record<string, unknown> & {
  kafka: { version?: string };
  quorum?: { mode?: string; acceptQuorumRisk?: boolean };
  clusters: { name: string; nodePools: { name: string; replicas: number }[] }[];
};

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

const dynamic = (s: Spec): void => {
  s.quorum = { mode: "dynamic" };
};
const messages = (r: RunFunctionResponse, severity: Severity): string[] =>
  r.results.filter((x) => x.severity === severity).map((x) => x.message);
const condition = (r: RunFunctionResponse, type: string) =>
  r.conditions.find((c) => c.type === type);

/** kafkaAdmin of the RemoteKafka resources of a run (all the same). */
function admin(r: RunFunctionResponse): KafkaAdmin | undefined {
  const mr = Object.values(r.desired?.resources ?? {}).find(
    (d) => (d.resource as KubeObject).kind === "RemoteKafka",
  )?.resource as { spec: { forProvider: { kafkaAdmin?: KafkaAdmin } } } | undefined;
  return mr?.spec.forProvider.kafkaAdmin;
}

/** A node's server.config and its pod's init containers. */
function node(r: RunFunctionResponse, id: number): { config: Map<string, string>; init: string[] } {
  for (const d of Object.values(r.desired?.resources ?? {})) {
    const manifest = (d.resource as { spec: { forProvider: { manifest: KubeObject } } }).spec
      .forProvider.manifest;
    const data = (manifest as { data?: Record<string, string> }).data?.["server.config"];
    if (!data) continue;
    const config = parseProperties(data);
    if (config.get("node.id") !== String(id)) continue;
    const pods = Object.values(r.desired?.resources ?? {}).flatMap((p) => {
      const m = (p.resource as { spec: { forProvider: { manifest: KubeObject } } }).spec.forProvider
        .manifest;
      return m.kind === "StrimziPodSet"
        ? ((m["spec"] as { pods: KubeObject[] }).pods as (KubeObject & {
            spec: { initContainers?: { name: string; command?: string[] }[] };
          })[])
        : [];
    });
    const pod = pods.find((p) => p.metadata.name === manifest.metadata.name);
    return { config, init: (pod?.spec.initContainers ?? []).map((c) => c.name) };
  }
  throw new Error(`no node ${id}`);
}

const live = (kraft: number): KafkaLive => ({
  reachable: true,
  features: { "metadata.version": 30, "kraft.version": kraft },
});

/** The running example: a static quorum of controllers 2 (east), 5 (north), 8 (west). */
const running = statusOf(run(() => {}));

test("the running example is a static quorum", () => {
  assert.equal(running.quorumMode, "static");
  assert.deepEqual(running.kafka?.controllers, [2, 5, 8]);
  assert.equal(running.quorumMigration, undefined);
  assert.ok(
    node(
      run(() => {}, running),
      2,
    ).config.has("controller.quorum.voters"),
  );
});

test("asking for dynamic keeps the static voters and asks for kraft.version 1 once every node runs the change", () => {
  const first = run(dynamic, running);
  assert.deepEqual(messages(first, Severity.SEVERITY_FATAL), []);
  assert.equal(statusOf(first).quorumMode, "static");
  assert.deepEqual(statusOf(first).quorumMigration, { phase: "RaisingKRaftVersion" });
  assert.equal(condition(first, "QuorumMigrating")?.reason, "RaisingKRaftVersion");
  const config = node(first, 5).config;
  assert.equal(config.get("controller.quorum.voters")?.split(",").length, 3);
  assert.equal(config.has("controller.quorum.bootstrap.servers"), false);
  assert.equal(admin(first)?.kraftVersion, undefined, "nodes not known to run it yet");
  const settled = run(dynamic, statusOf(first), [
    ...podSetsCurrent(first),
    ...kafkaReports(first, live(0)),
  ]);
  assert.equal(admin(settled)?.kraftVersion, 1);
  assert.equal(statusOf(settled).quorumMode, "static");
});

test("once Kafka reports kraft.version 1, every node is configured for the dynamic quorum", () => {
  const raising = run(dynamic, running);
  const switched = run(dynamic, statusOf(raising), kafkaReports(raising, live(1)));
  const st = statusOf(switched);
  assert.equal(st.quorumMode, "dynamic");
  assert.deepEqual(st.quorumMigration, { phase: "RollingNodes" });
  assert.deepEqual(st.kafka?.bootstrapControllers, [2, 5, 8]);
  assert.equal(admin(switched)?.kraftVersion, undefined);
  for (const id of [2, 0]) {
    const c = node(switched, id).config;
    assert.equal(c.has("controller.quorum.voters"), false, `node ${id}`);
    assert.equal(c.get("controller.quorum.bootstrap.servers")?.split(",").length, 3, `node ${id}`);
  }
  // The controllers' storage is formatted already; a new volume joins, never bootstraps a quorum.
  const format = Object.values(switched.desired?.resources ?? {})
    .map((d) => (d.resource as { spec: { forProvider: { manifest: KubeObject } } }).spec)
    .map((s) => (s.forProvider.manifest as { data?: Record<string, string> }).data?.["format.sh"])
    .filter((f): f is string => f !== undefined);
  assert.equal(format.length, 3);
  for (const f of format) {
    assert.match(f, /--no-initial-controllers/);
    assert.doesNotMatch(f, /--initial-controllers/);
  }
  assert.equal(condition(switched, "QuorumMigrating")?.reason, "RollingNodes");

  // Controllers stay as they are until the roll is done.
  const addController = (s: Spec): void => {
    dynamic(s);
    const p = s.clusters[0]?.nodePools[0];
    if (p) p.replicas = 2;
  };
  assert.match(
    messages(run(addController, st), Severity.SEVERITY_FATAL)[0] ?? "",
    /^spec\.clusters: the quorum is migrating from static to dynamic \(status\.quorumMigration\.phase RollingNodes\); its controllers cannot change until the migration is done/,
  );

  const done = run(dynamic, st, [...podSetsCurrent(switched), ...kafkaReports(switched, live(1))]);
  assert.deepEqual(statusOf(done).quorumMigration, { phase: "Done" });
  assert.equal(condition(done, "QuorumMigrating")?.status, Status.STATUS_CONDITION_FALSE);
  const grown = run((s) => {
    addController(s);
    s.quorum = { mode: "dynamic", acceptQuorumRisk: true }; // 2 of 4 in east
  }, statusOf(done));
  assert.deepEqual(messages(grown, Severity.SEVERITY_FATAL), []);
  assert.deepEqual(statusOf(grown).kafka?.controllers, [2, 5, 8, 9]);
  assert.deepEqual(statusOf(grown).quorumMigration, { phase: "Done" }, "kept");
});

test("a migration needs Kafka 4.1 on every node; a static quorum Kafka made dynamic is pointed out", () => {
  assert.deepEqual(
    messages(
      run(dynamic, { ...running, kafka: { ...running.kafka, version: "4.0.1" } }),
      Severity.SEVERITY_FATAL,
    ),
    [
      "spec.quorum.mode: migrating a static quorum to a dynamic one needs Kafka 4.1 or newer on every node (kraft.version upgrade); the cluster runs 4.0.1: upgrade spec.kafka.version first",
    ],
  );
  const r = run(() => {}, running);
  const warned = run(() => {}, running, kafkaReports(r, live(1)));
  assert.deepEqual(messages(warned, Severity.SEVERITY_FATAL), []);
  assert.match(
    messages(warned, Severity.SEVERITY_WARNING)[0] ?? "",
    /^spec\.quorum\.mode: Kafka reports kraft\.version 1/,
  );
  assert.ok(node(warned, 2).config.has("controller.quorum.voters"), "configured as asked");
});

test("a static quorum's controllers change only after the migration; dynamic never goes back", () => {
  const grow = (s: Spec): void => {
    const p = s.clusters[0]?.nodePools[0];
    if (p) p.replicas = 2;
  };
  assert.deepEqual(messages(run(grow, running), Severity.SEVERITY_FATAL), [
    "spec.clusters: a static quorum cannot change its controllers (was 2,5,8, would be 2,5,8,9); only a dynamic quorum can: set spec.quorum.mode to dynamic first (a migration, Kafka 4.1 or newer), then change the controllers once status.quorumMigration.phase is Done",
  ]);
  assert.match(
    messages(
      run((s) => {
        dynamic(s);
        grow(s);
      }, running),
      Severity.SEVERITY_FATAL,
    )[0] ?? "",
    /migrating from static to dynamic \(status\.quorumMigration\.phase RaisingKRaftVersion\)/,
  );
  assert.deepEqual(
    messages(
      run(() => {}, { ...running, quorumMode: "dynamic" }),
      Severity.SEVERITY_FATAL,
    ),
    [
      "spec.quorum.mode: the running cluster has a dynamic quorum; going back to a static quorum is not supported by Kafka",
    ],
  );
});
