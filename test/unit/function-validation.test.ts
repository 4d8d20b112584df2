/**
 * Invalid input gets a result naming the field, and a refusal changes nothing
 * (Crossplane keeps what runs when a function returns a fatal result).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import cloneDeep from "lodash/cloneDeep.js";
import { Severity } from "@crossplane-org/function-sdk-typescript";
import {
  asComposite,
  render,
  request,
  runPipeline,
  type KubeObject,
} from "../../functions/render.ts";
import { loadExample } from "../examples.ts";
import { composeFrozen } from "./frozen.ts";

const { claim, required } = loadExample("claim-3-clusters.yaml");
/** The example's managed resources as composed, standing for what is observed. */
const observed = render(claim, [], required).filter((o) => o.kind.startsWith("Remote"));

type Spec = Record<string, unknown> & {
  clusters: {
    name: string;
    networkId?: string;
    providerConfigRef: { name: string };
    nodePools: { roles: string[]; replicas: number }[];
  }[];
};

function results(
  mutate: (spec: Spec) => void,
  status?: unknown,
  req = required,
): { severity: Severity; message: string }[] {
  const xr = asComposite(cloneDeep(claim));
  mutate(xr["spec"] as Spec);
  if (status) xr["status"] = status;
  return runPipeline(xr, [], req, composeFrozen).results.filter(
    (r) => r.severity !== Severity.SEVERITY_NORMAL,
  );
}

function fatal(mutate: (spec: Spec) => void, status?: unknown, req?: KubeObject[]): string[] {
  return results(mutate, status, req)
    .filter((r) => r.severity === Severity.SEVERITY_FATAL)
    .map((r) => r.message);
}

/** The status of the running example cluster, as the function recorded it. */
function runningStatus(): Record<string, unknown> {
  const rsp = runPipeline(asComposite(cloneDeep(claim)), [], required, composeFrozen);
  return rsp.desired?.composite?.resource?.["status"] as Record<string, unknown>;
}

test("the example is accepted without warnings", () => {
  assert.deepEqual(
    results(() => {}),
    [],
  );
});

test("fewer than 3 controllers", () => {
  const msgs = fatal((s) => {
    const pool = s.clusters[2]?.nodePools[0];
    if (pool) pool.replicas = 0;
  });
  assert.ok(
    msgs.some((m) => m.startsWith("spec.clusters: 2 controller(s) in total")),
    msgs.join("\n"),
  );
});

test("duplicate cluster names and network ids", () => {
  assert.ok(
    fatal((s) => {
      const c = s.clusters[1];
      if (c) c.networkId = "east";
    }).some((m) =>
      m.startsWith('spec.clusters[1].networkId: "east" is also the network id of spec.clusters[0]'),
    ),
  );
  assert.ok(
    fatal((s) => {
      const c = s.clusters[2];
      if (c) c.name = "east";
    }).some((m) =>
      m.startsWith('spec.clusters[2].name: "east" is also the name of spec.clusters[0]'),
    ),
  );
});

test("replication factor above what the topology can place", () => {
  const msgs = fatal(
    (s) =>
      ((s["kafka"] as Record<string, unknown>)["config"] = { "default.replication.factor": 7 }),
  );
  assert.deepEqual(msgs, [
    'spec.kafka.config["default.replication.factor"]: 7 is more than the 6 brokers the topology has',
  ]);
});

test("settings that could lose acknowledged writes are warned about", () => {
  const r = results(
    (s) => ((s["kafka"] as Record<string, unknown>)["config"] = { "min.insync.replicas": 1 }),
  );
  assert.equal(r.length, 1);
  const [only] = r;
  assert.ok(only);
  assert.equal(only.severity, Severity.SEVERITY_WARNING);
  assert.match(
    only.message,
    /^spec\.kafka\.config: replication factor 3 with min\.insync\.replicas 1 can lose acknowledged writes/,
  );
});

test("broker configuration keys stretch-kafka owns, and non-scalar values", () => {
  const msgs = fatal(
    (s) =>
      ((s["kafka"] as Record<string, unknown>)["config"] = {
        "node.id": 1,
        "controller.quorum.voters": "x",
        "listener.name.plain-9092.ssl.keystore.location": "/x",
        "num.io.threads": { nested: true },
        "num.network.threads": 8,
      }),
  );
  assert.deepEqual(msgs, [
    'spec.kafka.config["node.id"]: is set by stretch-kafka from the topology and cannot be overridden; remove it',
    'spec.kafka.config["controller.quorum.voters"]: is set by stretch-kafka from the topology and cannot be overridden; remove it',
    'spec.kafka.config["listener.name.plain-9092.ssl.keystore.location"]: is set by stretch-kafka from the topology and cannot be overridden; remove it',
    'spec.kafka.config["num.io.threads"]: must be a string, number or boolean, not {"nested":true}',
  ]);
});

test("a ProviderConfig that does not exist", () => {
  const msgs = fatal(
    () => {},
    undefined,
    required.filter((p) => p.metadata.name !== "west"),
  );
  assert.deepEqual(msgs, [
    'spec.clusters[1].providerConfigRef.name: ProviderConfig "west" does not exist; register the cluster first (stretch-kafka register-cluster)',
  ]);
});

/** The ProviderConfigs the function asks Crossplane for, given what is composed. */
function asked(observedMrs: KubeObject[], mutate: (spec: Spec) => void = () => {}): string[] {
  const xr = asComposite(cloneDeep(claim));
  mutate(xr["spec"] as Spec);
  const rsp = composeFrozen(request(xr, observedMrs));
  return Object.values(rsp.requirements?.resources ?? {})
    .flatMap((r) => (r.kind === "ProviderConfig" ? [r.matchName ?? ""] : []))
    .sort();
}

test("ProviderConfigs are asked for only where nothing is composed with them yet", () => {
  const clusterOf = (mr: KubeObject): string | undefined =>
    mr.metadata.labels?.["stretchkafka.dev/cluster"];
  assert.ok(observed.length > 0 && observed.every((mr) => clusterOf(mr)), "observed by cluster");
  assert.deepEqual(asked([]), ["east", "north", "west"], "a new claim: every cluster");
  // Crossplane reconciles a composite whenever an object it required changes,
  // and the provider writes a ProviderConfig's status with every new user.
  assert.deepEqual(asked(observed), [], "a running claim: none");
  assert.deepEqual(
    asked(observed.filter((mr) => clusterOf(mr) !== "north")),
    ["north"],
    "a cluster added: that one",
  );
  assert.deepEqual(
    asked(observed, (s) => {
      const west = s.clusters[1];
      if (west) west.providerConfigRef.name = "elsewhere";
    }),
    ["elsewhere"],
    "a running cluster given another ProviderConfig: that one, so a wrong name is refused",
  );
});

test("a running cluster given a ProviderConfig that does not exist is refused", () => {
  const xr = asComposite(cloneDeep(claim));
  const west = (xr["spec"] as Spec).clusters[1] as unknown as {
    providerConfigRef: { name: string };
  };
  west.providerConfigRef.name = "elsewhere";
  const msgs = runPipeline(xr, observed, required, composeFrozen)
    .results.filter((r) => r.severity === Severity.SEVERITY_FATAL)
    .map((r) => r.message);
  assert.deepEqual(msgs, [
    'spec.clusters[1].providerConfigRef.name: ProviderConfig "elsewhere" does not exist; register the cluster first (stretch-kafka register-cluster)',
  ]);
});

test("an unknown networking provider", () => {
  const msgs = fatal(
    (s) => ((s["networking"] as Record<string, unknown>)["provider"] = "carrier-pigeon"),
  );
  assert.equal(msgs.length, 1);
  assert.match(
    msgs[0] ?? "",
    /spec\.networking\.provider must be one of "mcs", "cilium", "istio", "nodeport", "loadbalancer"/,
  );
});

test("changes a running cluster cannot take", () => {
  const status = runningStatus();
  assert.deepEqual(
    fatal((s) => ((s["networking"] as Record<string, unknown>)["provider"] = "cilium"), status),
    [
      "spec.networking.provider: the running cluster uses mcs; changing it to cilium is refused (nodes would lose each other); create a new StretchKafka instead",
    ],
  );
  // Quorum modes and controller changes: function-quorum-migration.test.ts.
});

test("a refusal leaves the desired state exactly as it came in", () => {
  const xr = asComposite(cloneDeep(claim));
  (xr["spec"] as Spec).clusters[0]?.nodePools.forEach((p) => (p.replicas = 0));
  const rsp = runPipeline(xr, [], required, composeFrozen);
  assert.ok(rsp.results.some((r) => r.severity === Severity.SEVERITY_FATAL));
  // The pipeline hands the first step an empty desired state, as Crossplane does.
  assert.deepEqual(rsp.desired, { composite: undefined, resources: {} });
  assert.deepEqual(rsp.conditions, []);
});
