/**
 * RemoteObjectSet on real API servers (a central and a remote cluster): the
 * remote objects of one Kafka cluster in one remote cluster under one managed
 * resource (ADR 0026). Each object behaves as under a managed resource of its
 * own kind (owned by the anchor, hand edits undone, certificates and copies
 * for Secrets, Orphan keeps a volume); the set writes one status, only when
 * it changes, and deletes what leaves it, owners last.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { DynamicClient, type KubeObject } from "../../controller/kube/dynamic.ts";
import { Provider } from "../../controller/provider/provider.ts";
import { finalizer } from "../../controller/provider/reconciler.ts";
import { eventually } from "../../devbed/eventually.ts";
import { fastQueue, providerBed, testLogger, type ProviderBed } from "../../devbed/provider-bed.ts";
import { Informer } from "../../controller/kube/informer.ts";
import { teardown } from "../teardown.ts";

let central: DynamicClient;
let east: DynamicClient;
let provider: Provider;
let pb: ProviderBed;
const fm = { fieldManager: "test" };
const group = "remote.stretchkafka.dev/v1alpha1";
const anchorName = "orders-stretch-anchor";
const labels = { "app.kubernetes.io/managed-by": "stretch-kafka", "strimzi.io/cluster": "orders" };

interface Entry {
  name: string;
  kind: string;
  deletionPolicy?: "Delete" | "Orphan";
  forProvider: Record<string, unknown>;
}
type Cond = { type: string; status: string; reason: string; message?: string };
type SetObj = KubeObject & {
  spec: { forProvider: { objects: Entry[] } };
  status?: {
    conditions?: Cond[];
    observedGeneration?: number;
    atProvider?: {
      ready?: number;
      objects?: {
        name: string;
        kind: string;
        remote: { kind: string; name: string };
        conditions?: Cond[];
        atProvider?: Record<string, unknown>;
      }[];
    };
  };
};
type Obj = KubeObject & { data?: Record<string, string> };

const cm = (name: string, data: Record<string, string>): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: "kafka", labels },
  data,
});
const owned = (manifest: KubeObject, extra: Record<string, unknown> = {}) => ({
  manifest,
  ownerAnchor: { name: anchorName },
  ...extra,
});

const anchor: Entry = {
  name: "anchor",
  kind: "RemoteConfigMap",
  forProvider: { manifest: cm(anchorName, { purpose: "anchor" }) },
};
const node0: Entry = {
  name: "cm-node-0",
  kind: "RemoteConfigMap",
  forProvider: owned(cm("orders-kafka-0", { "server.config": "node.id=0" })),
};
const bootstrap: Entry = {
  name: "svc-bootstrap",
  kind: "RemoteService",
  forProvider: owned({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "orders-kafka-bootstrap", namespace: "kafka", labels },
    spec: { ports: [{ name: "tcp-clients", port: 9092 }], selector: labels },
  }),
};
const caCopy: Entry = {
  name: "secret-ca",
  kind: "RemoteSecret",
  forProvider: owned(
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "orders-shared-ca-cert", namespace: "kafka", labels },
    },
    { secretRef: { namespace: "stretch-kafka-system", name: "shared", keys: ["ca.crt"] } },
  ),
};
const nodeCert: Entry = {
  name: "secret-node-0",
  kind: "RemoteSecret",
  forProvider: owned(
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "orders-kafka-0", namespace: "kafka", labels },
    },
    {
      certificate: {
        authority: "orders",
        issuer: "ClusterCA",
        commonName: "orders-kafka",
        dnsNames: ["orders-kafka-0.orders-kafka-brokers.kafka.svc"],
        usages: ["server", "client"],
      },
    },
  ),
};
const volume: Entry = {
  name: "pvc-data-0",
  kind: "RemotePersistentVolumeClaim",
  deletionPolicy: "Orphan",
  forProvider: owned({
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: "data-orders-kafka-0", namespace: "kafka", labels },
    spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
  }),
};

function objectSet(name: string, objects: Entry[]): KubeObject {
  return {
    apiVersion: group,
    kind: "RemoteObjectSet",
    metadata: { name },
    spec: { providerConfigRef: { name: "east" }, forProvider: { objects } },
  };
}

const remote = (kind: string, name: string): Promise<Obj | undefined> =>
  east.find<Obj>("v1", kind, name, "kafka");
const getSet = (name: string): Promise<SetObj | undefined> =>
  central.find<SetObj>(group, "RemoteObjectSet", name);
const cond = (o: SetObj | undefined, type: string): Cond | undefined =>
  o?.status?.conditions?.find((c) => c.type === type);

async function readySet(name: string, generation?: number): Promise<SetObj> {
  return eventually(`set ${name} Ready`, async () => {
    const s = await getSet(name);
    return cond(s, "Ready")?.status === "True" &&
      (generation === undefined || s?.status?.observedGeneration === generation)
      ? s
      : undefined;
  });
}

before(async () => {
  pb = await providerBed({ remotes: ["east"] });
  central = pb.central;
  east = pb.remote("east");
  await central.apply(
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "shared", namespace: "stretch-kafka-system" },
      stringData: { "ca.crt": "PEM", "ca.key": "SECRET" },
    },
    fm,
  );
  provider = new Provider(central, testLogger(), fastQueue, undefined, undefined, undefined, false);
  await provider.start();
});

/** How many reconciles of a RemoteObjectSet the provider has finished. */
async function setReconciles(): Promise<number> {
  const m = await provider.metrics.reconciles.get();
  return m.values
    .filter((v) => v.labels["kind"] === "RemoteObjectSet")
    .reduce((n, v) => n + v.value, 0);
}

after(async () => {
  await teardown(
    () => provider.stop(),
    () => pb.close(),
  );
});

describe("a RemoteObjectSet", () => {
  test(
    "creates every object as its own kind would, owned by the anchor, and reports them in one status",
    { timeout: 60_000 },
    async () => {
      // Every write of the set's status is a watch event (what Crossplane's breaker counts).
      const seen: string[] = [];
      const watch = new Informer<SetObj>(
        central,
        { apiVersion: group, kind: "RemoteObjectSet" },
        testLogger(),
      );
      watch.on((_e, o) => {
        if (o.metadata.name === "orders-east") seen.push(o.metadata.resourceVersion ?? "");
      });
      await watch.start();
      try {
        // Listed owned-first: each waits for the anchor, as its own kind would.
        await central.apply(
          objectSet("orders-east", [node0, bootstrap, caCopy, nodeCert, volume, anchor]),
          fm,
        );
        const set = await readySet("orders-east", 1);
        const a = await remote("ConfigMap", anchorName);
        const node = await remote("ConfigMap", "orders-kafka-0");
        assert.deepEqual(
          node?.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid]),
          [["ConfigMap", anchorName, a?.metadata.uid]],
        );
        assert.equal(a?.metadata.ownerReferences, undefined);
        assert.equal(
          node.metadata.annotations?.["remote.stretchkafka.dev/managed-resource"],
          "RemoteObjectSet/orders-east/cm-node-0",
        );
        const secret = await remote("Secret", "orders-shared-ca-cert");
        assert.deepEqual(Object.keys(secret?.data ?? {}), ["ca.crt"], "never the CA key");
        assert.ok(await remote("PersistentVolumeClaim", "data-orders-kafka-0"));

        assert.ok(set.metadata.finalizers?.includes(finalizer));
        const objects = set.status?.atProvider?.objects ?? [];
        assert.deepEqual(
          objects.map((o) => o.name),
          ["cm-node-0", "svc-bootstrap", "secret-ca", "secret-node-0", "pvc-data-0", "anchor"],
          "in the spec's order",
        );
        assert.equal(set.status?.atProvider?.ready, 6);
        for (const o of objects)
          assert.equal(o.conditions?.find((c) => c.type === "Ready")?.status, "True", o.name);
        const svc = objects.find((o) => o.name === "svc-bootstrap");
        assert.equal(
          svc?.atProvider?.["uid"],
          (await remote("Service", "orders-kafka-bootstrap"))?.metadata.uid,
        );
        assert.ok(svc?.atProvider?.["clusterIP"], "the kind's own status fields");
        assert.deepEqual(objects.find((o) => o.name === "secret-ca")?.atProvider?.["keys"], [
          "ca.crt",
        ]);
        assert.equal(JSON.stringify(set).includes("UEVN"), false, "no key material in status");
        // A minted certificate: its expiry in status, and in the provider's metrics.
        const cert = await remote("Secret", "orders-kafka-0");
        assert.deepEqual(Object.keys(cert?.data ?? {}).sort(), ["ca.crt", "tls.crt", "tls.key"]);
        const notAfter = (
          objects.find((o) => o.name === "secret-node-0")?.atProvider?.["certificate"] as
            { notAfter?: string } | undefined
        )?.notAfter;
        assert.ok(notAfter, "the certificate's validity is reported");
        provider.observeState();
        const expiry = (await provider.metrics.certificateExpiry.get()).values.find(
          (v) => v.labels["secret"] === "orders-kafka-0",
        );
        assert.equal(expiry?.value, Date.parse(notAfter) / 1000);
        assert.equal(JSON.stringify(set).includes("PRIVATE KEY"), false);
        const usages = await central.list<KubeObject & { resourceRef: { kind: string } }>(
          group,
          "ProviderConfigUsage",
        );
        assert.ok(usages.items.some((u) => u.resourceRef.kind === "RemoteObjectSet"));

        // The number of writes is what the set is for: created, its finalizer,
        // then one status write per pass that changed something (the anchor
        // first, then the rest; on a loaded machine a wait longer than the
        // ordering grace is reported once more). Six managed resources would
        // have been written at least twelve times.
        assert.ok(
          seen.length <= 7,
          `the set was written ${seen.length} times for 6 objects (create, finalizer, statuses)`,
        );
        // A pass that decides nothing new writes nothing: touched (metadata only,
        // the generation stays), the set is reconciled again and must not be written.
        const before = await setReconciles();
        const touched: KubeObject = await central.apply(
          {
            ...objectSet("orders-east", set.spec.forProvider.objects),
            metadata: { name: "orders-east", annotations: { "test/touch": "1" } },
          },
          fm,
        );
        await eventually("the provider has reconciled the touched set", async () =>
          (await setReconciles()) > before ? true : undefined,
        );
        const current = await central.get<SetObj>(group, "RemoteObjectSet", "orders-east");
        assert.equal(
          current.metadata.resourceVersion,
          touched.metadata.resourceVersion,
          "a pass that changes nothing writes nothing",
        );
        assert.equal(current.metadata.generation, 1);
      } finally {
        await watch.stop();
      }
    },
  );

  test(
    "a hand edit or deletion in the remote cluster is undone through the watch",
    { timeout: 60_000 },
    async () => {
      await east.apply(cm("orders-kafka-0", { "server.config": "node.id=99" }), {
        fieldManager: "kubectl-edit",
      });
      await eventually("hand edit reverted", async () =>
        (await remote("ConfigMap", "orders-kafka-0"))?.data?.["server.config"] === "node.id=0"
          ? true
          : undefined,
      );
      const before = await remote("Service", "orders-kafka-bootstrap");
      await east.delete("v1", "Service", "orders-kafka-bootstrap", "kafka");
      await eventually("deleted Service recreated", async () => {
        const o = await remote("Service", "orders-kafka-bootstrap");
        return o && o.metadata.uid !== before?.metadata.uid ? true : undefined;
      });
    },
  );

  test(
    "an invalid entry is refused with the field and the reason, and the others stay applied",
    { timeout: 60_000 },
    async () => {
      const bad: Entry = {
        name: "svc-bad",
        kind: "RemoteService",
        forProvider: owned({
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "orders-bad", namespace: "kafka", labels },
          spec: { ports: [] },
        }),
      };
      await central.apply(
        objectSet("orders-east", [node0, bootstrap, caCopy, volume, anchor, bad]),
        fm,
      );
      const refused = await eventually("the bad entry is reported", async () => {
        const s = await getSet("orders-east");
        return cond(s, "Synced")?.status === "False" ? s : undefined;
      });
      assert.match(
        cond(refused, "Synced")?.message ?? "",
        /^svc-bad: invalid RemoteService: spec\.forProvider\.manifest\.spec\.ports.*fewer than 1/,
      );
      assert.equal(cond(refused, "Ready")?.status, "False");
      assert.equal(await remote("Service", "orders-bad"), undefined, "nothing applied for it");
      assert.ok(await remote("Service", "orders-kafka-bootstrap"), "the others stay");
      await central.apply(objectSet("orders-east", [node0, bootstrap, caCopy, volume, anchor]), fm);
      await readySet("orders-east", 3);
    },
  );

  test(
    "an entry renamed in the spec takes its object over; one left out is deleted, a volume kept",
    { timeout: 60_000 },
    async () => {
      const svcBefore = await remote("Service", "orders-kafka-bootstrap");
      const pvcBefore = await remote("PersistentVolumeClaim", "data-orders-kafka-0");
      const renamed: Entry = { ...bootstrap, name: "svc-bootstrap-v2" };
      // node0 and the volume leave the spec; the Service's entry is renamed.
      // The anchor first this time: deleting the set must still take it last.
      await central.apply(objectSet("orders-east", [anchor, renamed, caCopy]), fm);
      await eventually("the ConfigMap that left the spec is deleted", async () =>
        (await remote("ConfigMap", "orders-kafka-0")) ? undefined : true,
      );
      const set = await readySet("orders-east", 4);
      assert.deepEqual(
        (set.status?.atProvider?.objects ?? []).map((o) => o.name),
        ["anchor", "svc-bootstrap-v2", "secret-ca"],
        "what left the spec has left the status",
      );
      const svc = await remote("Service", "orders-kafka-bootstrap");
      assert.equal(svc?.metadata.uid, svcBefore?.metadata.uid, "the renamed entry kept the object");
      assert.equal(
        svc?.metadata.annotations?.["remote.stretchkafka.dev/managed-resource"],
        "RemoteObjectSet/orders-east/svc-bootstrap-v2",
      );
      const pvc = await remote("PersistentVolumeClaim", "data-orders-kafka-0");
      assert.equal(pvc?.metadata.uid, pvcBefore?.metadata.uid, "the volume (Orphan) is kept");
      assert.equal(pvc?.metadata.ownerReferences, undefined, "no longer owned by the anchor");
      assert.equal(
        pvc?.metadata.annotations?.["remote.stretchkafka.dev/managed-resource"],
        undefined,
      );
    },
  );

  test(
    "a managed resource of its own cannot take an object a set manages",
    { timeout: 60_000 },
    async () => {
      await central.apply(
        {
          apiVersion: group,
          kind: "RemoteConfigMap",
          metadata: { name: "anchor-twin" },
          spec: {
            providerConfigRef: { name: "east" },
            forProvider: { manifest: cm(anchorName, { purpose: "twin" }) },
          },
        },
        fm,
      );
      const refused = await eventually("the twin is refused", async () => {
        const o = await central.find<SetObj>(group, "RemoteConfigMap", "anchor-twin");
        const c = cond(o, "Synced");
        return c?.reason === "Conflict" ? c : undefined;
      });
      assert.match(
        refused.message ?? "",
        /already managed by RemoteObjectSet\/orders-east\/anchor/,
      );
      assert.equal((await remote("ConfigMap", anchorName))?.data?.["purpose"], "anchor");
      await central.delete(group, "RemoteConfigMap", "anchor-twin");
      await eventually("the twin is gone", async () =>
        (await central.find(group, "RemoteConfigMap", "anchor-twin")) ? undefined : true,
      );
      assert.ok(await remote("ConfigMap", anchorName), "its deletion left the set's object");
    },
  );

  test(
    "deleting the set deletes its objects, the anchor last, then lets the set go",
    { timeout: 60_000 },
    async () => {
      // The order the remote cluster sees deletions in: the anchor must come last.
      const gone: string[] = [];
      const watches = ["ConfigMap", "Service", "Secret"].map(
        (kind) =>
          new Informer<KubeObject>(
            east,
            { apiVersion: "v1", kind, namespace: "kafka" },
            testLogger(),
          ),
      );
      for (const w of watches)
        w.on((event, o) => {
          if (event === "delete") gone.push(`${o.kind}/${o.metadata.name ?? ""}`);
        });
      await Promise.all(watches.map((w) => w.start()));
      try {
        await central.delete(group, "RemoteObjectSet", "orders-east");
        await eventually("the set is gone", async () =>
          (await getSet("orders-east")) ? undefined : true,
        );
        await eventually("every deletion is seen", () =>
          Promise.resolve(gone.length >= 3 ? true : undefined),
        );
      } finally {
        await Promise.all(watches.map((w) => w.stop()));
      }
      assert.deepEqual(gone.slice().sort(), [
        "ConfigMap/orders-stretch-anchor",
        "Secret/orders-shared-ca-cert",
        "Service/orders-kafka-bootstrap",
      ]);
      assert.equal(
        gone.at(-1),
        "ConfigMap/orders-stretch-anchor",
        `anchor last: ${gone.join(", ")}`,
      );
      assert.equal(await remote("Service", "orders-kafka-bootstrap"), undefined);
      assert.equal(await remote("Secret", "orders-shared-ca-cert"), undefined);
      assert.equal(await remote("ConfigMap", anchorName), undefined);
      assert.ok(
        await remote("PersistentVolumeClaim", "data-orders-kafka-0"),
        "the volume it had already let go stays",
      );
      const usages = await central.list<KubeObject & { resourceRef: { kind: string } }>(
        group,
        "ProviderConfigUsage",
      );
      assert.equal(
        usages.items.filter((u) => u.resourceRef.kind === "RemoteObjectSet").length,
        0,
        "its usage record is gone",
      );
    },
  );
  test(
    "a kept volume holding another Kafka cluster's data is not taken up, nor deleted with the set",
    { timeout: 60_000 },
    async () => {
      // Kept by the set deleted above; say it holds the data of Kafka cluster "old-id",
      // as the volume of a composite that chose it would.
      await east.mergePatch("v1", "PersistentVolumeClaim", "data-orders-kafka-0", "kafka", {
        metadata: {
          annotations: { "stretchkafka.dev/cluster-id": "old-id", "stretchkafka.dev/node-id": "0" },
        },
      });
      const kept = await remote("PersistentVolumeClaim", "data-orders-kafka-0");
      assert.ok(kept?.metadata.annotations?.["remote.stretchkafka.dev/kept-for"], "kept");
      // The claim created again before its previous composite was gone: a new cluster id,
      // and a volume it would delete with itself.
      const manifest = volume.forProvider.manifest as KubeObject;
      const newer: Entry = {
        ...volume,
        deletionPolicy: "Delete",
        forProvider: owned({
          ...manifest,
          metadata: {
            ...manifest.metadata,
            annotations: {
              "stretchkafka.dev/cluster-id": "new-id",
              "stretchkafka.dev/node-id": "0",
            },
          },
        }),
      };
      await central.apply(objectSet("orders-east", [newer, anchor]), fm);
      const refused = await eventually("the volume's entry is refused", async () => {
        const o = (await getSet("orders-east"))?.status?.atProvider?.objects?.find(
          (x) => x.name === "pvc-data-0",
        );
        const synced = o?.conditions?.find((c) => c.type === "Synced");
        return synced?.status === "False" ? synced : undefined;
      });
      assert.match(
        refused.message ?? "",
        /data of Kafka cluster old-id, not of this composite's Kafka cluster new-id/,
      );
      assert.match(refused.message ?? "", /create it again/);
      const after = await remote("PersistentVolumeClaim", "data-orders-kafka-0");
      assert.equal(after?.metadata.uid, kept.metadata.uid);
      assert.equal(
        after?.metadata.annotations?.["stretchkafka.dev/cluster-id"],
        "old-id",
        "not relabelled",
      );
      await central.delete(group, "RemoteObjectSet", "orders-east");
      await eventually("the set is gone", async () =>
        (await getSet("orders-east")) ? undefined : true,
      );
      const left = await remote("PersistentVolumeClaim", "data-orders-kafka-0");
      assert.equal(left?.metadata.uid, kept.metadata.uid, "the data volume was not deleted");
      assert.equal(left?.metadata.annotations?.["stretchkafka.dev/cluster-id"], "old-id");
    },
  );

  test(
    "a claim's kept volumes are recorded on the ProviderConfig in one write per pass, and forgotten in one once taken up",
    { timeout: 90_000 },
    async () => {
      const claimLabels = {
        "crossplane.io/claim-name": "vols",
        "crossplane.io/claim-namespace": "team-a",
      };
      const anchorOf: Entry = {
        name: "anchor",
        kind: "RemoteConfigMap",
        forProvider: { manifest: cm("vols-stretch-anchor", { purpose: "anchor" }) },
      };
      const pvc = (i: number): Entry => ({
        name: `pvc-${String(i)}`,
        kind: "RemotePersistentVolumeClaim",
        deletionPolicy: "Orphan",
        forProvider: {
          manifest: {
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            metadata: {
              name: `data-vols-${String(i)}`,
              namespace: "kafka",
              labels: { ...labels, "strimzi.io/pool-name": "brokers" },
              annotations: {
                "stretchkafka.dev/cluster-id": "vols-id",
                "stretchkafka.dev/node-id": String(i),
              },
            },
            spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
          },
          ownerAnchor: { name: "vols-stretch-anchor" },
        },
      });
      const claimSet = (name: string, entries: Entry[]): KubeObject => {
        const o = objectSet(name, entries);
        o.metadata.labels = claimLabels;
        return o;
      };
      type Record_ = Record<string, { clusterId?: string; nodes?: Record<string, unknown> }>;
      const recordOf = (pc: KubeObject | undefined): Record_ =>
        (pc as { status?: { keptVolumes?: Record_ } } | undefined)?.status?.keptVolumes ?? {};
      // Every write that changes east's record, as a watch (and Crossplane) sees it.
      const writes: Record_[] = [];
      const pcs = new Informer<KubeObject>(
        central,
        { apiVersion: group, kind: "ProviderConfig" },
        testLogger(),
      );
      pcs.on((event, o, old) => {
        if (event === "update" && o.metadata.name === "east" && old)
          if (JSON.stringify(recordOf(o)) !== JSON.stringify(recordOf(old)))
            writes.push(recordOf(o));
      });
      await pcs.start();
      const nodes = (...ids: number[]): Record<string, unknown> =>
        Object.fromEntries(ids.map((i) => [`data-vols-${String(i)}`, { pool: "brokers", id: i }]));
      try {
        await central.apply(claimSet("vols-east", [anchorOf, pvc(0), pvc(1), pvc(2)]), fm);
        await readySet("vols-east");
        await central.delete(group, "RemoteObjectSet", "vols-east");
        await eventually("the set is gone", async () =>
          (await getSet("vols-east")) ? undefined : true,
        );
        // Written before the set went: what a claim created again reads once it is gone.
        assert.deepEqual(recordOf(pcs.get("east"))["team-a/vols"], {
          clusterId: "vols-id",
          nodes: nodes(0, 1, 2),
        });
        assert.equal(
          writes.length,
          1,
          `the pass's three volumes in one write: ${JSON.stringify(writes)}`,
        );

        // The claim created again takes two of them up: one write forgets both.
        await central.apply(claimSet("vols-east-2", [anchorOf, pvc(0), pvc(1)]), fm);
        await readySet("vols-east-2");
        await eventually("the two taken up are no longer noted as kept", async () => {
          for (const i of [0, 1]) {
            const v = await remote("PersistentVolumeClaim", `data-vols-${String(i)}`);
            if (v?.metadata.annotations?.["remote.stretchkafka.dev/kept-for"]) return undefined;
          }
          return true;
        });
        assert.deepEqual(recordOf(pcs.get("east"))["team-a/vols"], {
          clusterId: "vols-id",
          nodes: nodes(2),
        });
        assert.equal(writes.length, 2, `both forgotten in one write: ${JSON.stringify(writes)}`);

        // The last one taken up too: the claim leaves the record.
        await central.apply(claimSet("vols-east-2", [anchorOf, pvc(0), pvc(1), pvc(2)]), fm);
        await eventually("the claim leaves the record", () =>
          recordOf(pcs.get("east"))["team-a/vols"] ? undefined : true,
        );
        assert.equal(writes.length, 3);
        await central.delete(group, "RemoteObjectSet", "vols-east-2");
        await eventually("the second set is gone", async () =>
          (await getSet("vols-east-2")) ? undefined : true,
        );
        assert.deepEqual(recordOf(pcs.get("east"))["team-a/vols"]?.nodes, nodes(0, 1, 2));
        assert.equal(writes.length, 4);
      } finally {
        await pcs.stop();
        for (const i of [0, 1, 2])
          await east.delete("v1", "PersistentVolumeClaim", `data-vols-${String(i)}`, "kafka");
      }
    },
  );

  test(
    "an anchor's managed resource deleted with Orphan goes at once while a set's objects name the anchor, and nothing is deleted",
    { timeout: 60_000 },
    async () => {
      // A composite handed from managed resources per object to sets (ADR
      // 0026): the old anchor's managed resource leaves the anchor in place
      // and must not wait for the set's objects it owns, which stay.
      const name = "handover-stretch-anchor";
      await central.apply(
        {
          apiVersion: group,
          kind: "RemoteConfigMap",
          metadata: { name: "handover-anchor" },
          spec: {
            providerConfigRef: { name: "east" },
            deletionPolicy: "Orphan",
            forProvider: { manifest: cm(name, { purpose: "anchor" }) },
          },
        },
        fm,
      );
      await eventually("the anchor's managed resource is Ready", async () => {
        const o = await central.find<SetObj>(group, "RemoteConfigMap", "handover-anchor");
        return cond(o, "Ready")?.status === "True" ? true : undefined;
      });
      const child: Entry = {
        name: "cm-handover-0",
        kind: "RemoteConfigMap",
        forProvider: {
          manifest: cm("handover-kafka-0", { "server.config": "node.id=0" }),
          ownerAnchor: { name },
        },
      };
      await central.apply(objectSet("handover-east", [child]), fm);
      await readySet("handover-east", 1);
      const anchorUid = (await remote("ConfigMap", name))?.metadata.uid;
      assert.ok(anchorUid);
      assert.deepEqual(
        (await remote("ConfigMap", "handover-kafka-0"))?.metadata.ownerReferences?.map(
          (r) => r.uid,
        ),
        [anchorUid],
      );
      try {
        await central.delete(group, "RemoteConfigMap", "handover-anchor");
        await eventually(
          "the anchor's managed resource is gone",
          async () =>
            (await central.find(group, "RemoteConfigMap", "handover-anchor")) ? undefined : true,
          20,
        );
        const left = await remote("ConfigMap", name);
        assert.equal(left?.metadata.uid, anchorUid, "the anchor stays");
        assert.equal(
          left.metadata.annotations?.["remote.stretchkafka.dev/managed-resource"],
          undefined,
          "released by its managed resource",
        );
        assert.ok(await remote("ConfigMap", "handover-kafka-0"), "the set's object stays");
        assert.equal(cond(await getSet("handover-east"), "Ready")?.status, "True");
      } finally {
        await central.delete(group, "RemoteObjectSet", "handover-east");
        await eventually("the set is gone", async () =>
          (await getSet("handover-east")) ? undefined : true,
        );
        await east.delete("v1", "ConfigMap", name, "kafka");
      }
    },
  );

  test(
    "a set of an abandoned cluster applies nothing and is released without touching the cluster",
    { timeout: 60_000 },
    async () => {
      const lone: Entry = {
        name: "cm-lone",
        kind: "RemoteConfigMap",
        forProvider: { manifest: cm("orders-lone", { kept: "yes" }) },
      };
      await central.apply(objectSet("orders-east-2", [lone]), fm);
      await readySet("orders-east-2", 1);
      await central.apply(
        {
          apiVersion: group,
          kind: "ProviderConfig",
          metadata: { name: "east", annotations: { "remote.stretchkafka.dev/abandon": "true" } },
        },
        { fieldManager: "operator" },
      );
      const said = await eventually("the set says its cluster is abandoned", async () => {
        const c = cond(await getSet("orders-east-2"), "Synced");
        return c?.reason === "Abandoned" ? c : undefined;
      });
      assert.match(said.message ?? "", /ProviderConfig east is abandoned/);
      await central.delete(group, "RemoteObjectSet", "orders-east-2");
      await eventually("the set is released", async () =>
        (await getSet("orders-east-2")) ? undefined : true,
      );
      assert.equal(
        (await remote("ConfigMap", "orders-lone"))?.data?.["kept"],
        "yes",
        "nothing in the abandoned cluster was touched",
      );
    },
  );
});
