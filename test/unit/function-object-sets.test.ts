/**
 * One RemoteObjectSet per remote cluster (ADR 0026): the function composes a
 * set's entries as the managed resources they stand for and reads them back
 * the same way, so a claim composed and observed per cluster gets the answer
 * it gets per object; how a composite's remote objects are composed is
 * decided once and kept.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Ready, Severity } from "@crossplane-org/function-sdk-typescript";
import type { KubeObject } from "../../functions/render.ts";
import {
  expandObjectSets,
  type ObservedResources,
} from "../../functions/stretch-kafka/observed.ts";
import { entrySpecHash } from "../../apis/canonical.ts";
import { observedFrom, runExample, statusOf } from "./function-fixtures.ts";

const synced = { type: "Synced", status: "True", reason: "ReconcileSuccess" };
const ready = { type: "Ready", status: "True", reason: "Available" };

/** Every managed resource of a run, observed Ready (podsets with all their pods). */
function allReady(r: ReturnType<typeof runExample>): KubeObject[] {
  return observedFrom(r, (mr) => {
    const pods =
      mr.kind === "RemoteStrimziPodSet"
        ? (mr["spec"] as { forProvider: { manifest: { spec: { pods: unknown[] } } } }).forProvider
            .manifest.spec.pods.length
        : undefined;
    return {
      conditions: [synced, ready],
      ...(pods !== undefined
        ? { atProvider: { pods, readyPods: pods, currentPods: pods } }
        : { atProvider: { uid: `uid-${mr.metadata.name ?? ""}` } }),
    };
  });
}

type Observed = KubeObject & {
  spec: { providerConfigRef: { name: string }; forProvider: { manifest: KubeObject } };
  status: { conditions: unknown[]; atProvider?: unknown; observedGeneration?: number };
};

/**
 * The same managed resources as one RemoteObjectSet per cluster, each entry
 * named as its resource was; `generation` the sets', `hashed` whether each
 * entry's status carries the hash of the spec it is of (as the provider writes it).
 */
function asSets(
  observed: KubeObject[],
  o: { generation?: number; hashed?: boolean } = {},
): KubeObject[] {
  const byCluster = new Map<string, Observed[]>();
  for (const o of observed as Observed[]) {
    const c = o.metadata.labels?.["stretchkafka.dev/cluster"] ?? "";
    byCluster.set(c, [...(byCluster.get(c) ?? []), o]);
  }
  const hashed = o.hashed ?? false;
  return [...byCluster].map(([cluster, list]) => {
    const entry = (o: Observed): string =>
      (o.metadata.annotations?.["crossplane.io/composition-resource-name"] ?? "").slice(
        cluster.length + 1,
      );
    return {
      apiVersion: "remote.stretchkafka.dev/v1alpha1",
      kind: "RemoteObjectSet",
      metadata: {
        name: `orders-${cluster}`,
        generation: o.generation ?? 1,
        labels: list[0]?.metadata.labels ?? {},
        annotations: {
          // The rollout the podsets carry, as the function is to stamp it on a set with podsets.
          ...Object.fromEntries(
            list.flatMap((o) =>
              Object.entries(o.metadata.annotations ?? {}).filter(
                ([k]) => k === "stretchkafka.dev/rollout",
              ),
            ),
          ),
          "crossplane.io/composition-resource-name": `${cluster}-objects`,
        },
      },
      spec: {
        providerConfigRef: list[0]?.spec.providerConfigRef,
        forProvider: {
          objects: list.map((o) => ({
            name: entry(o),
            kind: o.kind,
            forProvider: o.spec.forProvider,
          })),
        },
      },
      status: {
        conditions: [synced, ready],
        atProvider: {
          objects: list.map((o) => ({
            name: entry(o),
            kind: o.kind,
            remote: {
              apiVersion: o.spec.forProvider.manifest.apiVersion,
              kind: o.spec.forProvider.manifest.kind,
              namespace: o.spec.forProvider.manifest.metadata.namespace,
              name: o.spec.forProvider.manifest.metadata.name,
            },
            conditions: o.status.conditions,
            atProvider: o.status.atProvider,
            observedGeneration: o.status.observedGeneration,
            ...(hashed ? { specHash: entrySpecHash(o.spec.forProvider) } : {}),
          })),
        },
      },
    };
  });
}

/** A new claim's run, observed Ready twice (its status recorded, then read back): settled. */
function settledFrom(fresh: ReturnType<typeof runExample>): ReturnType<typeof runExample> {
  const st = statusOf(runExample(() => {}, statusOf(fresh), allReady(fresh)));
  return runExample(() => {}, st, allReady(fresh));
}

const perCluster = {
  apiVersion: "function.stretchkafka.dev/v1alpha1",
  kind: "Input",
  remoteObjects: "PerCluster",
};

interface Desired {
  kind: string;
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    providerConfigRef: { name: string };
    deletionPolicy?: string;
    forProvider: {
      objects?: { name: string; kind: string; deletionPolicy?: string; forProvider: unknown }[];
    };
  };
}

/**
 * What a run asks of each remote object, by the composition resource name of
 * its managed resource: a set's entries are read under `<cluster>-<entry>`.
 */
function perObjectView(r: ReturnType<typeof runExample>): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [name, d] of Object.entries(r.desired?.resources ?? {})) {
    const mr = d.resource as unknown as Desired;
    const rollout = mr.metadata.annotations?.["stretchkafka.dev/rollout"];
    const common = { labels: mr.metadata.labels, providerConfig: mr.spec.providerConfigRef.name };
    if (mr.kind !== "RemoteObjectSet") {
      out.set(name, {
        ...common,
        kind: mr.kind,
        rollout,
        deletionPolicy: mr.spec.deletionPolicy ?? "Delete",
        forProvider: mr.spec.forProvider,
      });
      continue;
    }
    const cluster = mr.metadata.labels?.["stretchkafka.dev/cluster"] ?? "";
    assert.equal(name, `${cluster}-objects`);
    for (const e of mr.spec.forProvider.objects ?? [])
      out.set(`${cluster}-${e.name}`, {
        ...common,
        kind: e.kind,
        rollout: e.kind === "RemoteStrimziPodSet" ? rollout : undefined,
        deletionPolicy: e.deletionPolicy ?? mr.spec.deletionPolicy ?? "Delete",
        forProvider: e.forProvider,
      });
  }
  return out;
}

const names = (r: ReturnType<typeof runExample>): string[] =>
  Object.keys(r.desired?.resources ?? {}).sort();

test("a new claim composed per cluster gets one RemoteObjectSet per cluster whose entries are, name for name, the managed resources it would get per object; observed back, the same answer", () => {
  const fresh = runExample(() => {});
  const freshSets = runExample(() => {}, undefined, [], [], perCluster);
  assert.deepEqual(names(freshSets), ["east-objects", "north-objects", "west-objects"]);
  assert.equal(statusOf(fresh).remoteObjects, "PerObject");
  assert.equal(statusOf(freshSets).remoteObjects, "PerCluster");
  assert.deepEqual(perObjectView(freshSets), perObjectView(fresh));

  const settled = settledFrom(fresh);
  const perObject = allReady(settled);
  const sets = asSets(perObject);
  assert.equal(sets.length, 3, "one set per cluster");
  assert.equal(
    sets.reduce(
      (n, s) =>
        n + (s["spec"] as { forProvider: { objects: unknown[] } }).forProvider.objects.length,
      0,
    ),
    perObject.length,
  );
  const a = runExample(() => {}, statusOf(settled), perObject);
  const b = runExample(
    () => {},
    { ...statusOf(settled), remoteObjects: "PerCluster" },
    sets,
    [],
    perCluster,
  );
  assert.deepEqual(b.conditions, a.conditions);
  assert.deepEqual(statusOf(b), { ...statusOf(a), remoteObjects: "PerCluster" });
  assert.deepEqual(perObjectView(b), perObjectView(a));
  assert.deepEqual(names(b), ["east-objects", "north-objects", "west-objects"]);
  const resources = Object.values(a.desired?.resources ?? {});
  assert.ok(resources.length > 60);
  assert.ok(
    [...resources, ...Object.values(b.desired?.resources ?? {})].every(
      (d) => d.ready === Ready.READY_TRUE,
    ),
    "the comparison is of a claim whose every resource is ready, not of two empty answers",
  );
});

test("how remote objects are composed is decided once: a recorded choice, else what is observed, else per object for a composite that has a cluster id", () => {
  const first = runExample(() => {});
  const settled = runExample(() => {}, statusOf(first), allReady(first));
  const { remoteObjects: _, ...older } = statusOf(settled);
  // Created before sets (or restored from a backup): per object until handed over (below).
  for (const observed of [allReady(settled), []]) {
    const r = runExample(() => {}, older, observed, [], perCluster);
    assert.equal(statusOf(r).remoteObjects, "PerObject");
    assert.ok(names(r).length > 60);
  }
  // Per cluster once recorded, though the Composition no longer asks for it.
  const sets = asSets(allReady(settled));
  const recorded = runExample(() => {}, { ...older, remoteObjects: "PerCluster" }, sets);
  assert.deepEqual(names(recorded), ["east-objects", "north-objects", "west-objects"]);
  // The status write lost (or not yet seen): the observed sets say it.
  const lost = runExample(() => {}, undefined, sets);
  assert.equal(statusOf(lost).remoteObjects, "PerCluster");
  assert.equal(statusOf(lost).clusterId, statusOf(settled).clusterId);
});

test("a composite recorded per object is handed over to sets once settled: its managed resources get deletionPolicy Orphan first, and only once all have it come the sets, asking for the same objects", () => {
  const first = runExample(() => {});
  const settled = runExample(() => {}, statusOf(first), allReady(first));
  const st = statusOf(settled);
  assert.equal(st.remoteObjects, "PerObject");
  const message = (r: ReturnType<typeof runExample>): string =>
    r.results.map((x) => x.message).find((m) => /RemoteObjectSet per cluster/.test(m)) ?? "";
  const policies = (r: ReturnType<typeof runExample>): string[] => [
    ...new Set(
      Object.values(r.desired?.resources ?? {}).map(
        (d) => (d.resource as unknown as Desired).spec.deletionPolicy ?? "Delete",
      ),
    ),
  ];
  // Not settled (a pod not ready): nothing changes yet, and it says why.
  const notReady = allReady(settled).map((mr) =>
    mr.kind === "RemoteStrimziPodSet"
      ? {
          ...mr,
          status: {
            ...(mr["status"] as Record<string, unknown>),
            atProvider: { pods: 2, readyPods: 1, currentPods: 2 },
            conditions: [synced, { ...ready, status: "False", reason: "Creating" }],
          },
        }
      : mr,
  );
  const waits = runExample(() => {}, st, notReady, [], perCluster);
  assert.deepEqual(names(waits), names(settled));
  assert.ok(policies(waits).includes("Delete"));
  assert.match(message(waits), /handed over once every cluster is ready/);
  // Settled: the same managed resources, every one Orphan.
  const orphaning = runExample(() => {}, st, allReady(settled), [], perCluster);
  assert.deepEqual(names(orphaning), names(settled));
  assert.deepEqual(policies(orphaning), ["Orphan"]);
  assert.equal(statusOf(orphaning).remoteObjects, "PerObject");
  assert.match(message(orphaning), /0 of \d+ managed resources have deletionPolicy Orphan/);
  // Part of it observed with Orphan: it goes on (whatever else turns meanwhile).
  const observedOrphan = allReady(orphaning);
  const half = observedOrphan.map((mr, i) =>
    i % 2 === 0 ? mr : { ...mr, spec: { ...(mr["spec"] as object), deletionPolicy: "Delete" } },
  );
  const part = runExample(() => {}, st, half, [], perCluster);
  assert.deepEqual(policies(part), ["Orphan"]);
  assert.match(message(part), /\d+ of \d+ managed resources have deletionPolicy Orphan/);
  // All observed with Orphan: the sets instead, recorded, asking for what the
  // managed resources asked (with the plan's own deletion policies).
  const sets = runExample(() => {}, st, observedOrphan, [], perCluster);
  assert.deepEqual(names(sets), ["east-objects", "north-objects", "west-objects"]);
  assert.equal(statusOf(sets).remoteObjects, "PerCluster");
  assert.deepEqual(perObjectView(sets), perObjectView(settled));
  assert.equal(statusOf(sets).clusterId, st.clusterId);
  // Next pass: the sets observed beside the managed resources still going.
  const after = runExample(
    () => {},
    statusOf(sets),
    [...observedOrphan, ...asSets(allReady(settled))],
    [],
    perCluster,
  );
  assert.deepEqual(names(after), ["east-objects", "north-objects", "west-objects"]);
  assert.deepEqual(perObjectView(after), perObjectView(settled));
  assert.equal(message(after), "");
  // A Composition that asks for nothing (per object) hands nothing over.
  const kept = runExample(() => {}, st, allReady(settled));
  assert.deepEqual(policies(kept), policies(settled));
  assert.equal(message(kept), "");
});

test("a change of one entry leaves the others' status current: the function answers as before, where without the spec hashes it would not", () => {
  const first = runExample(() => {});
  const settled = runExample(() => {}, statusOf(first), allReady(first));
  // Every object observed at generation 1, pods all current: every node runs the current definition.
  const current = allReady(settled).map((mr) => ({
    ...mr,
    status: { ...(mr["status"] as object), observedGeneration: 1 },
  }));
  const st = { ...statusOf(settled), remoteObjects: "PerCluster" as const };
  const run = (sets: KubeObject[]): ReturnType<typeof runExample> =>
    runExample(() => {}, st, sets, [], perCluster);
  const before = run(asSets(current, { generation: 1, hashed: true }));
  // Another entry's change moved every set's generation on; the statuses are of the specs as they are.
  const moved = run(asSets(current, { generation: 2, hashed: true }));
  assert.deepEqual(moved.desired?.resources, before.desired?.resources);
  assert.deepEqual(statusOf(moved), statusOf(before));
  // Without the hashes every entry would look stale and the answer change with it
  // (the podsets not current: what is asked of Kafka is taken back).
  const stale = run(asSets(current, { generation: 2, hashed: false }));
  assert.notDeepEqual(stale.desired?.resources, before.desired?.resources);
});

test("a Composition input that is not the function's is refused, naming what to write", () => {
  for (const [input, field] of [
    [{ ...perCluster, remoteObjects: "OneBigSet" }, /input\.remoteObjects/],
    [
      { ...perCluster, kind: "Resources" },
      /input is function\.stretchkafka\.dev\/v1alpha1\/Resources/,
    ],
    [{ ...perCluster, extra: 1 }, /input\.extra: unknown field/],
  ] as const) {
    const r = runExample(() => {}, undefined, [], [], input);
    const fatal = r.results.filter((x) => x.severity === Severity.SEVERITY_FATAL);
    assert.equal(fatal.length, 1, JSON.stringify(r.results));
    assert.match(fatal[0]?.message ?? "", field);
    assert.match(fatal[0]?.message ?? "", /remoteObjects: PerCluster\|PerObject/);
    assert.deepEqual(r.desired?.resources ?? {}, {}, "nothing is composed");
  }
});

test("a set's entries are read under their resources' names, with the set's labels and generation; an abandoned set says so on each", () => {
  const observed: ObservedResources = {
    "east-objects": {
      apiVersion: "remote.stretchkafka.dev/v1alpha1",
      kind: "RemoteObjectSet",
      metadata: {
        name: "orders-east",
        generation: 4,
        labels: { "stretchkafka.dev/cluster": "east" },
      },
      spec: {
        providerConfigRef: { name: "east" },
        forProvider: {
          objects: [
            {
              name: "cm-a",
              kind: "RemoteConfigMap",
              forProvider: { manifest: { kind: "ConfigMap" } },
            },
            {
              name: "cm-b",
              kind: "RemoteConfigMap",
              forProvider: { manifest: { kind: "ConfigMap" } },
            },
          ],
        },
      } as never,
      status: {
        conditions: [
          { type: "Synced", status: "False", reason: "Abandoned", lastTransitionTime: "t" },
        ],
        atProvider: {
          objects: [
            {
              name: "cm-a",
              conditions: [
                { type: "Ready", status: "True", reason: "Available", lastTransitionTime: "t" },
                {
                  type: "Synced",
                  status: "True",
                  reason: "ReconcileSuccess",
                  lastTransitionTime: "t",
                },
              ],
              observedGeneration: 4,
            },
          ],
        },
      },
    },
    // A managed resource of its own under the same name (a hand-over): it is the one read.
    "east-cm-b": { kind: "RemoteConfigMap", metadata: { name: "own" } },
  };
  const seen = expandObjectSets(observed);
  assert.deepEqual(Object.keys(seen).sort(), ["east-cm-a", "east-cm-b"]);
  const a = seen["east-cm-a"];
  assert.ok(a?.metadata && a.status);
  assert.equal(a.kind, "RemoteConfigMap");
  assert.equal(a.metadata.generation, 4);
  assert.equal(a.status.observedGeneration, 4);
  assert.equal(a.metadata.labels?.["stretchkafka.dev/cluster"], "east");
  assert.deepEqual(
    a.status.conditions?.map((c) => `${c.type}/${c.reason}`),
    ["Ready/Available", "Synced/Abandoned"],
  );
  assert.equal(seen["east-cm-b"]?.metadata?.name, "own");
});

test("a cluster's set is ready when its cluster is: a set still Ready at the generation before a change does not make the composite Ready", () => {
  const settled = settledFrom(runExample(() => {}));
  const status = { ...statusOf(settled), remoteObjects: "PerCluster" as const };
  const sets = asSets(allReady(settled));
  const before = runExample(() => {}, status, sets, [], perCluster);
  assert.equal(before.desired?.composite?.ready, Ready.READY_TRUE, "settled: Ready");

  // One more broker in east: every set still says Ready (its status is of the
  // generation before), east has a pod more to run than it reports.
  const scaled = runExample(
    (spec) => {
      const clusters = spec["clusters"] as { name: string; nodePools: { replicas: number }[] }[];
      const east = clusters.find((c) => c.name === "east");
      const pool = east?.nodePools.at(-1);
      assert.ok(pool, "the example has a pool in east");
      pool.replicas += 1;
    },
    status,
    sets,
    [],
    perCluster,
  );
  const readiness = Object.fromEntries(
    Object.entries(scaled.desired?.resources ?? {}).map(([n, d]) => [n, d.ready]),
  );
  assert.deepEqual(readiness, {
    "east-objects": Ready.READY_FALSE,
    "north-objects": Ready.READY_TRUE,
    "west-objects": Ready.READY_TRUE,
  });
  assert.equal(scaled.desired?.composite?.ready, Ready.READY_FALSE);
  const east = statusOf(scaled).clusters?.find((c) => c.name === "east");
  assert.equal(east?.ready, false, "and status.clusters says why");
});
