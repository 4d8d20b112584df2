/**
 * The function reads a RemoteObjectSet (ADR 0026) as the managed resources
 * its entries stand for: the same claim observed through per-object managed
 * resources or through one set per cluster gives the same answer, to the
 * byte.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Ready } from "@crossplane-org/function-sdk-typescript";
import type { KubeObject } from "../../functions/render.ts";
import {
  expandObjectSets,
  type ObservedResources,
} from "../../functions/stretch-kafka/observed.ts";
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

/** The same managed resources as one RemoteObjectSet per cluster, each entry named as its resource was. */
function asSets(observed: KubeObject[]): KubeObject[] {
  const byCluster = new Map<string, Observed[]>();
  for (const o of observed as Observed[]) {
    const c = o.metadata.labels?.["stretchkafka.dev/cluster"] ?? "";
    byCluster.set(c, [...(byCluster.get(c) ?? []), o]);
  }
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
        generation: 1,
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
          })),
        },
      },
    };
  });
}

test("a claim observed through one RemoteObjectSet per cluster gets the same answer as through per-object managed resources", () => {
  const first = runExample(() => {});
  const st = statusOf(runExample(() => {}, statusOf(first), allReady(first)));
  const settled = runExample(() => {}, st, allReady(first));
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
  const b = runExample(() => {}, statusOf(settled), sets);
  assert.deepEqual(b.conditions, a.conditions);
  assert.deepEqual(statusOf(b), statusOf(a));
  assert.deepEqual(b.desired?.resources, a.desired?.resources);
  const resources = Object.values(a.desired?.resources ?? {});
  assert.ok(resources.length > 60);
  assert.ok(
    resources.every((d) => d.ready === Ready.READY_TRUE),
    "the comparison is of a claim whose every resource is ready, not of two empty answers",
  );
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
