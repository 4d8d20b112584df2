/**
 * The Crossplane v2 shape (ADR 0020): a namespaced StretchKafka composes one
 * namespaced RemoteObjectSet per cluster in `remote.m.stretchkafka.dev`,
 * naming a ClusterProviderConfig or a ProviderConfig of its namespace, and
 * its connection Secret as a resource. What runs in the remote clusters is
 * exactly what the legacy claim of the same name and namespace runs: that is
 * what lets a running Kafka move from one shape to the other.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import cloneDeep from "lodash/cloneDeep.js";
import type { RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import { groups, validate } from "../../apis/index.ts";
import {
  asComposite,
  fatalResults,
  runPipeline,
  shippedInput,
  type KubeObject,
} from "../../functions/render.ts";
import { asNamespacedConfigs, asNamespacedXr, loadExample } from "../examples.ts";
import { composeFrozen } from "./frozen.ts";

const example = loadExample("claim-3-clusters.yaml");
const clusters = ["east", "west", "north"];

/** The example claim as a v2 StretchKafka in team-a, its spec edited. */
function namespacedXr(edit: (spec: Record<string, unknown>) => void = () => {}): KubeObject {
  const xr = asNamespacedXr({ ...example.claim, metadata: { name: "orders" } });
  edit(xr["spec"] as Record<string, unknown>);
  return xr;
}

const configs = (
  kind?: "ClusterProviderConfig" | "ProviderConfig",
  namespace?: string,
): KubeObject[] => asNamespacedConfigs(example.required, kind, namespace);

const run = (
  xr: KubeObject,
  required: KubeObject[] = configs(),
  input?: Record<string, unknown>,
): RunFunctionResponse => runPipeline(xr, [], required, composeFrozen, input);

/** The legacy claim of the same name and namespace, on the shipped Composition. */
const legacyClaimRun = (): RunFunctionResponse =>
  runPipeline(
    asComposite({ ...cloneDeep(example.claim), metadata: { name: "orders", namespace: "team-a" } }),
    [],
    example.required,
    composeFrozen,
    shippedInput,
  );

const desired = (r: RunFunctionResponse): Record<string, KubeObject> =>
  Object.fromEntries(
    Object.entries(r.desired?.resources ?? {}).map(([k, v]) => [k, v.resource as KubeObject]),
  );

test("a v2 StretchKafka composes a namespaced RemoteObjectSet per cluster naming its ClusterProviderConfig", () => {
  const r = run(namespacedXr());
  assert.deepEqual(fatalResults(r), []);
  const sets = Object.entries(desired(r)).filter(([, o]) => o.kind === "RemoteObjectSet");
  assert.deepEqual(sets.map(([name]) => name).sort(), clusters.map((c) => `${c}-objects`).sort());
  for (const [name, set] of sets) {
    assert.equal(set.apiVersion, groups.namespacedRemote);
    assert.equal(set.metadata.namespace, undefined, "Crossplane puts it in the XR's namespace");
    const ref = (set["spec"] as { providerConfigRef: unknown }).providerConfigRef;
    assert.deepEqual(ref, { kind: "ClusterProviderConfig", name: name.replace(/-objects$/, "") });
    const check = validate("NamespacedRemoteObjectSet", set);
    assert.ok(check.valid, check.valid ? "" : JSON.stringify(check.errors));
  }
  // The Crossplane-side requirement: ClusterProviderConfigs, by name.
  const asked = Object.entries(r.requirements?.resources ?? {})
    .filter(([k]) => !k.startsWith("predecessor-"))
    .map(([, s]) => s);
  assert.deepEqual(
    asked.map((s) => [s.apiVersion, s.kind, s.matchName, s.namespace]).sort(),
    clusters.map((c) => [groups.namespacedRemote, "ClusterProviderConfig", c, undefined]).sort(),
  );
});

test("a v2 StretchKafka is composed as sets whatever the step's input asks", () => {
  const perObject = { ...shippedInput, remoteObjects: "PerObject" };
  const kinds = new Set(
    Object.values(desired(run(namespacedXr(), configs(), perObject))).map((o) => o.kind),
  );
  assert.deepEqual([...kinds].sort(), ["RemoteObjectSet", "Secret"]);
});

test("a cluster may name a ProviderConfig of the XR's namespace", () => {
  const xr = namespacedXr((spec) => {
    const first = (spec["clusters"] as { providerConfigRef: Record<string, string> }[])[0];
    if (first) first.providerConfigRef["kind"] = "ProviderConfig";
  });
  // Only the east one is a namespaced ProviderConfig, in team-a.
  const required = [
    ...configs("ProviderConfig", "team-a").filter((c) => c.metadata.name === "east"),
    ...configs().filter((c) => c.metadata.name !== "east"),
  ];
  const r = run(xr, required);
  assert.deepEqual(fatalResults(r), []);
  const east = desired(r)["east-objects"];
  assert.deepEqual((east?.["spec"] as { providerConfigRef: unknown }).providerConfigRef, {
    kind: "ProviderConfig",
    name: "east",
  });
  const asked = Object.values(r.requirements?.resources ?? {}).find((s) => s.matchName === "east");
  assert.deepEqual([asked?.kind, asked?.namespace], ["ProviderConfig", "team-a"]);
  // Another namespace's ProviderConfig of that name is not it.
  const elsewhere = run(xr, [
    ...configs("ProviderConfig", "team-b").filter((c) => c.metadata.name === "east"),
    ...configs().filter((c) => c.metadata.name !== "east"),
  ]);
  assert.match(
    fatalResults(elsewhere).join("\n"),
    /ProviderConfig "east" in namespace team-a does not exist; register the cluster first/,
  );
});

test("a missing ClusterProviderConfig is refused, saying which, and nothing is composed", () => {
  const r = run(
    namespacedXr(),
    configs().filter((c) => c.metadata.name !== "west"),
  );
  assert.match(fatalResults(r).join("\n"), /ClusterProviderConfig "west" does not exist/);
  assert.deepEqual(Object.keys(r.desired?.resources ?? {}), []);
});

test("a legacy ProviderConfig does not stand in for a ClusterProviderConfig", () => {
  const r = run(namespacedXr(), example.required);
  assert.match(fatalResults(r).join("\n"), /ClusterProviderConfig "east" does not exist/);
});

test("its connection Secret is composed with the legacy claim's keys and values", () => {
  const v2 = run(namespacedXr((spec) => (spec["writeConnectionSecretToRef"] = { name: "conn" })));
  const secret = desired(v2)["connection-secret"];
  assert.ok(secret);
  assert.equal(secret.kind, "Secret");
  assert.equal(secret.metadata.name, "conn");
  assert.equal(secret["type"], "connection.crossplane.io/v1alpha1");
  assert.deepEqual(v2.desired?.composite?.connectionDetails, {}, "a v2 XR has none");
  const legacy = legacyClaimRun();
  const legacyData = Object.fromEntries(
    Object.entries(legacy.desired?.composite?.connectionDetails ?? {}).map(([k, v]) => [
      k,
      Buffer.from(v).toString("base64"),
    ]),
  );
  assert.ok(Object.keys(legacyData).length >= 3);
  assert.deepEqual(secret["data"], legacyData);
  // Without a name it is <name>-kafka, as the example claim's.
  const unnamed = desired(run(namespacedXr()))["connection-secret"];
  assert.equal(unnamed?.metadata.name, "orders-kafka");
});

test("the remote objects are those of the legacy claim of the same name and namespace", () => {
  const legacy = legacyClaimRun();
  const v2 = run(namespacedXr());
  const entries = (r: RunFunctionResponse): Record<string, unknown> =>
    Object.fromEntries(
      Object.entries(desired(r))
        .filter(([, o]) => o.kind === "RemoteObjectSet")
        .map(([name, o]) => [name, (o["spec"] as { forProvider: unknown }).forProvider]),
    );
  assert.deepEqual(entries(v2), entries(legacy));
});

test("a v2 StretchKafka that fails its schema is refused with the field named", () => {
  const r = run(
    namespacedXr((spec) => {
      const first = (spec["clusters"] as { providerConfigRef: Record<string, string> }[])[0];
      if (first) first.providerConfigRef["kind"] = "Cluster";
    }),
  );
  assert.match(
    fatalResults(r).join("\n"),
    /invalid composite: spec\.clusters\[0\]\.providerConfigRef\.kind must be one of "ClusterProviderConfig", "ProviderConfig"/,
  );
});

test("a v2 StretchKafka waits while the legacy claim it replaces still has managed resources", () => {
  const xr = namespacedXr();
  const first = run(xr);
  // It asks for the legacy claim's sets by the claim's labels, and for an earlier v2 XR's in its namespace.
  const asked = first.requirements?.resources ?? {};
  assert.deepEqual(asked["predecessor-RemoteObjectSet"]?.matchLabels?.labels, {
    "crossplane.io/claim-name": "orders",
    "crossplane.io/claim-namespace": "team-a",
  });
  assert.equal(asked["predecessor-NamespacedRemoteObjectSet"]?.namespace, "team-a");
  const legacySet: KubeObject = {
    apiVersion: groups.remote,
    kind: "RemoteObjectSet",
    metadata: {
      name: "orders-east-objects",
      labels: { "crossplane.io/claim-name": "orders", "crossplane.io/claim-namespace": "team-a" },
      ownerReferences: [
        {
          apiVersion: groups.composite,
          kind: "XStretchKafka",
          name: "orders-x1",
          uid: "u1",
          controller: true,
        },
      ],
    },
  };
  const waiting = run(xr, [...configs(), legacySet]);
  assert.deepEqual(
    Object.keys(waiting.desired?.resources ?? {}),
    [],
    "nothing is composed while the legacy claim's sets are there",
  );
  assert.match(
    waiting.conditions.map((c) => c.message ?? "").join("\n"),
    /waiting for the managed resources of orders-x1/,
  );
});
