/**
 * The foundation on real API servers: three clusters start, the real CRDs of
 * Crossplane, MCS and Strimzi install beside ours, the XRD passes Crossplane's
 * own XRD schema, the real garbage collector cascades from an anchor, and bad
 * claims are refused by the API server with a message naming the field.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { parse } from "yaml";
import cloneDeep from "lodash/cloneDeep.js";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { DynamicClient, type KubeObject } from "../../controller/kube/dynamic.ts";
import { describeError, isNotFound } from "../../controller/kube/errors.ts";
import { startTestBed, type TestBed } from "../../devbed/clusters.ts";
import { applyFiles, installCrds, ourXrdFile } from "../../devbed/install.ts";
import { readYamlDocuments } from "../../devbed/external-crds.ts";

type Obj = KubeObject;

const clients = new Map<KubeConfig, DynamicClient>();
function client(kc: KubeConfig): DynamicClient {
  let c = clients.get(kc);
  if (!c) {
    c = new DynamicClient(kc);
    clients.set(kc, c);
  }
  return c;
}
function apply(kc: KubeConfig, obj: Obj, fieldManager = "test"): Promise<Obj> {
  return client(kc).apply(obj, { fieldManager });
}

let bed: TestBed;
let central: KubeConfig;
let east: KubeConfig;

const exampleClaim = parse(
  readFileSync(new URL("../../examples/claim-3-clusters.yaml", import.meta.url), "utf8"),
) as Obj;

async function ensureNamespace(kc: KubeConfig, name: string): Promise<void> {
  await apply(kc, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
}

/** Applies and expects the API server to refuse with a message containing every `expected` part. */
async function expectRefused(kc: KubeConfig, obj: Obj, ...expected: string[]): Promise<void> {
  await assert.rejects(apply(kc, obj), (err: unknown) => {
    const msg = describeError(err);
    for (const e of expected) assert.ok(msg.includes(e), `expected "${e}" in: ${msg}`);
    return true;
  });
}

function claim(name: string, mutate: (spec: Record<string, unknown>) => void = () => {}): Obj {
  const c = cloneDeep(exampleClaim);
  c.metadata = { name, namespace: "team-a" };
  mutate(c["spec"] as Record<string, unknown>);
  return c;
}

function clustersOf(spec: Record<string, unknown>): Record<string, unknown>[] {
  return spec["clusters"] as Record<string, unknown>[];
}

before(async () => {
  bed = await startTestBed({ names: ["central", "east", "west"] });
  central = bed.cluster("central").kubeConfig();
  east = bed.cluster("east").kubeConfig();
});

after(async () => {
  for (const c of clients.values()) await c.close();
  await bed.close();
});

describe("the test bed", () => {
  test("starts three isolated clusters with verified TLS", async () => {
    const servers = new Set<string>();
    for (const c of bed.clusters) {
      const kc = c.kubeConfig();
      const cluster = kc.getCurrentCluster();
      assert.ok(cluster?.caData, `${c.name}: kubeconfig carries a CA`);
      assert.notEqual(cluster.skipTLSVerify, true);
      const ns = await kc.makeApiClient(CoreV1Api).readNamespace({ name: "default" });
      assert.equal(ns.metadata?.name, "default");
      servers.add(c.server);
    }
    assert.equal(servers.size, 3);
    // Each cluster has its own storage: an object made in one is absent in the others.
    await ensureNamespace(east, "only-in-east");
    await assert.rejects(
      central.makeApiClient(CoreV1Api).readNamespace({ name: "only-in-east" }),
      (err: unknown) => isNotFound(err),
    );
  });

  test(
    "installs the real Crossplane, MCS and Strimzi CRDs and ours",
    { timeout: 180_000 },
    async () => {
      await Promise.all(bed.clusters.map((c) => installCrds(c.kubeConfig())));
    },
  );

  test("accepts our XRD, validated by Crossplane's own XRD CRD", async () => {
    const [applied] = await applyFiles(central, [ourXrdFile()]);
    assert.equal(applied?.kind, "CompositeResourceDefinition");
    // The same CRD refuses a malformed XRD, so the acceptance above means something.
    const xrd = readYamlDocuments(ourXrdFile())[0] as Obj;
    const broken = cloneDeep(xrd);
    (broken["spec"] as Record<string, unknown>)["scope"] = "Planetary";
    broken.metadata = { name: "xbroken.stretchkafka.dev" };
    await expectRefused(central, broken, "spec.scope");
  });

  test("accepts our Composition, validated by Crossplane's own Composition CRD", async () => {
    const file = fileURLToPath(new URL("../../compositions/xstretchkafka.yaml", import.meta.url));
    const [applied] = await applyFiles(central, [file]);
    assert.equal(applied?.kind, "Composition");
    const broken = cloneDeep(readYamlDocuments(file)[0] as Obj);
    (broken["spec"] as Record<string, unknown>)["mode"] = "Sideways";
    broken.metadata = { name: "broken" };
    await expectRefused(central, broken, "spec.mode");
  });

  test(
    "the real garbage collector removes what an anchor owns once the anchor is deleted",
    { timeout: 120_000 },
    async () => {
      await ensureNamespace(east, "kafka");
      const anchor = await apply(east, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "orders-anchor", namespace: "kafka" },
      });
      const owner = {
        apiVersion: "v1",
        kind: "ConfigMap",
        name: "orders-anchor",
        uid: anchor.metadata.uid ?? "",
        controller: false,
      };
      const owned: Obj[] = [
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "orders-kafka-0", namespace: "kafka", ownerReferences: [owner] },
          data: { "server.config": "node.id=0" },
        },
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "orders-kafka-brokers", namespace: "kafka", ownerReferences: [owner] },
          spec: { clusterIP: "None", ports: [{ name: "tcp-replication", port: 9091 }] },
        },
        {
          apiVersion: "core.strimzi.io/v1",
          kind: "StrimziPodSet",
          metadata: { name: "orders-east-brokers", namespace: "kafka", ownerReferences: [owner] },
          spec: { selector: { matchLabels: { "strimzi.io/cluster": "orders" } }, pods: [] },
        },
      ];
      for (const o of owned) await apply(east, o);
      // An object the anchor does not own must survive.
      await apply(east, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "bystander", namespace: "kafka" },
      });

      const c = client(east);
      assert.ok(await c.delete("v1", "ConfigMap", "orders-anchor", "kafka"));
      // CRD-typed dependents wait for the collector's next discovery of new resources (30 s).
      const deadline = Date.now() + 100_000;
      let remaining = owned;
      while (remaining.length > 0 && Date.now() < deadline) {
        const still: Obj[] = [];
        for (const o of remaining) {
          if (await c.find(o.apiVersion, o.kind, o.metadata.name ?? "", o.metadata.namespace))
            still.push(o);
        }
        remaining = still;
        if (remaining.length > 0) await sleep(500);
      }
      assert.deepEqual(
        remaining.map((o) => `${o.kind}/${o.metadata.name ?? ""}`),
        [],
        "dependents left behind",
      );
      assert.ok(
        await c.find("v1", "ConfigMap", "bystander", "kafka"),
        "an object the anchor did not own was deleted",
      );
    },
  );
});

describe("the API server refuses bad claims, naming the field", () => {
  before(async () => {
    await ensureNamespace(central, "team-a");
  });

  test("a valid claim is accepted and defaults are filled in", async () => {
    const applied = await apply(central, claim("orders"));
    const spec = applied["spec"] as {
      quorum: { mode: string };
      clusters: { nodePools: { storage?: { type: string; size: string } }[] }[];
    };
    assert.equal(spec.quorum.mode, "static");
    assert.deepEqual(spec.clusters[1]?.nodePools[1]?.storage, {
      type: "persistent-claim",
      size: "10Gi",
      deleteClaim: false,
    });
  });

  test("wrong types", async () => {
    await expectRefused(
      central,
      claim("wrong-types", (s) => {
        const pool = (clustersOf(s)[0]?.["nodePools"] as Record<string, unknown>[])[0];
        if (pool) pool["replicas"] = "three";
      }),
      // Server-side apply names list entries by key rather than by index.
      '.spec.clusters[name="east"].nodePools[name="controllers"].replicas',
      "expected numeric",
    );
  });

  test("no clusters", async () => {
    await expectRefused(
      central,
      claim("no-clusters", (s) => (s["clusters"] = [])),
      "spec.clusters",
      "at least 1 items",
    );
  });

  test("negative replicas", async () => {
    await expectRefused(
      central,
      claim("negative", (s) => {
        const pool = (clustersOf(s)[2]?.["nodePools"] as Record<string, unknown>[])[1];
        if (pool) pool["replicas"] = -1;
      }),
      "spec.clusters[2].nodePools[1].replicas",
      "greater than or equal to 0",
    );
  });

  test("duplicate cluster names and network ids", async () => {
    await expectRefused(
      central,
      claim("dup-names", (s) => {
        const c = clustersOf(s);
        if (c[1]) c[1]["name"] = "east";
      }),
      ".spec.clusters",
      'duplicate entries for key [name="east"]',
    );
    await expectRefused(
      central,
      claim("dup-network-ids", (s) => {
        const c = clustersOf(s);
        if (c[1]) c[1]["networkId"] = "east";
      }),
      "spec.clusters",
      "networkId must be unique",
    );
  });

  test("persistent storage without a size", async () => {
    await expectRefused(
      central,
      claim("no-size", (s) => {
        const pool = (clustersOf(s)[0]?.["nodePools"] as Record<string, unknown>[])[0];
        if (pool) pool["storage"] = { type: "persistent-claim" };
      }),
      "spec.clusters[0].nodePools[0].storage",
      "storage.size is required",
    );
  });

  test("changing the networking provider or the target namespace of a live claim", async () => {
    await apply(central, claim("immutable"));
    await expectRefused(
      central,
      claim(
        "immutable",
        (s) => ((s["networking"] as Record<string, unknown>)["provider"] = "cilium"),
      ),
      "spec.networking",
      "networking.provider is immutable",
    );
    await expectRefused(
      central,
      claim("immutable", (s) => (s["targetNamespace"] = "kafka2")),
      "spec.targetNamespace",
      "targetNamespace is immutable",
    );
  });
});

describe("the API server refuses bad managed resources", () => {
  const secret = (forProvider: Record<string, unknown>): Obj => ({
    apiVersion: "remote.stretchkafka.dev/v1alpha1",
    kind: "RemoteSecret",
    metadata: { name: "orders-east-kafka-0-cert" },
    spec: {
      providerConfigRef: { name: "east" },
      forProvider: {
        manifest: {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "orders-kafka-0", namespace: "kafka" },
        },
        ...forProvider,
      },
    },
  });

  test("a RemoteSecret with key material in its spec", async () => {
    const s = secret({ secretRef: { namespace: "x", name: "y" } });
    ((s["spec"] as Obj)["forProvider"] as { manifest: Record<string, unknown> }).manifest["data"] =
      { "tls.key": "c2VjcmV0" };
    await expectRefused(central, s, "spec.forProvider.manifest", "never carries key material");
  });

  test("a certificate that would be due for renewal when issued", async () => {
    await expectRefused(
      central,
      secret({
        certificate: {
          authority: "orders-x1",
          commonName: "a",
          issuer: "ClusterCA",
          validityDays: 30,
          renewBeforeDays: 30,
        },
      }),
      "spec.forProvider.certificate",
      "renewBeforeDays must be less than validityDays",
    );
  });

  test("a RemoteSecret that both copies and mints", async () => {
    await expectRefused(
      central,
      secret({
        secretRef: { namespace: "x", name: "y" },
        certificate: { authority: "orders-x1", commonName: "a", issuer: "ClusterCA" },
      }),
      "spec.forProvider",
      "exactly one of",
    );
  });

  test("moving a managed resource to another cluster", async () => {
    const ok = secret({
      certificate: { authority: "orders-x1", commonName: "orders-kafka-0", issuer: "ClusterCA" },
    });
    const applied = await apply(central, ok);
    const spec = applied["spec"] as { deletionPolicy: string; managementPolicies: string[] };
    assert.equal(spec.deletionPolicy, "Delete");
    assert.deepEqual(spec.managementPolicies, ["*"]);
    const moved = cloneDeep(ok);
    (moved["spec"] as { providerConfigRef: { name: string } }).providerConfigRef.name = "west";
    await expectRefused(central, moved, "spec", "providerConfigRef is immutable");
  });
});
