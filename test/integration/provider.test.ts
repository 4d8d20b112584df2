/**
 * The provider on real API servers (a central and a remote cluster):
 * managed resources become remote objects owned by their anchor, hand edits
 * and deletions in the remote cluster are corrected through the watch, status
 * comes back, deletion honours Delete and Orphan, and the anchor goes last.
 * The remote Strimzi operator is the one thing played by the test.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { DynamicClient, type KubeObject } from "../../controller/kube/dynamic.ts";
import { Provider } from "../../controller/provider/provider.ts";
import { finalizer } from "../../controller/provider/reconciler.ts";
import { eventually } from "../../devbed/eventually.ts";
import { fastQueue, providerBed, testLogger, type ProviderBed } from "../../devbed/provider-bed.ts";
import { teardown } from "../teardown.ts";

let central: DynamicClient;
let east: DynamicClient;
let provider: Provider;
let pb: ProviderBed;
const fm = { fieldManager: "test" };
const group = "remote.stretchkafka.dev/v1alpha1";

type Obj = KubeObject & {
  data?: Record<string, string>;
  spec?: Record<string, unknown>;
  status?: {
    conditions?: { type: string; status: string; reason: string; message?: string }[];
    atProvider?: Record<string, unknown>;
  };
};

function mr(
  kind: string,
  name: string,
  manifest: KubeObject,
  extra: Record<string, unknown> = {},
): KubeObject {
  const { forProvider, ...rest } = extra as { forProvider?: Record<string, unknown> };
  return {
    apiVersion: group,
    kind,
    metadata: { name },
    spec: {
      providerConfigRef: { name: "east" },
      forProvider: {
        manifest,
        ...(kind === "RemoteConfigMap" && name === "anchor"
          ? {}
          : { ownerAnchor: { name: "orders-stretch-anchor" } }),
        ...forProvider,
      },
      ...rest,
    },
  };
}

const labels = { "app.kubernetes.io/managed-by": "stretch-kafka", "strimzi.io/cluster": "orders" };
const cm = (name: string, data: Record<string, string>): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: "kafka", labels },
  data,
});

async function remote(kind: string, name: string, apiVersion = "v1"): Promise<Obj | undefined> {
  return east.find<Obj>(apiVersion, kind, name, "kafka");
}

async function condition(
  kind: string,
  name: string,
  type: string,
): Promise<{ status: string; reason: string; message?: string } | undefined> {
  const o = await central.find<Obj>(group, kind, name);
  return o?.status?.conditions?.find((c) => c.type === type);
}

before(async () => {
  pb = await providerBed({ remotes: ["east"], strimzi: true });
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
  provider = new Provider(central, testLogger(), fastQueue);
  await provider.start();
});

after(async () => {
  await teardown(
    () => provider.stop(),
    () => pb.close(),
  );
});

describe("the provider", () => {
  test(
    "creates remote objects owned by the anchor and reports them Ready",
    { timeout: 60_000 },
    async () => {
      await central.apply(
        mr("RemoteConfigMap", "anchor", cm("orders-stretch-anchor", { purpose: "anchor" })),
        fm,
      );
      await central.apply(
        mr("RemoteConfigMap", "node-0", cm("orders-kafka-0", { "server.config": "node.id=0" })),
        fm,
      );
      await central.apply(
        mr("RemoteService", "bootstrap", {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "orders-kafka-bootstrap", namespace: "kafka", labels },
          spec: {
            ports: [{ name: "tcp-clients", port: 9092 }],
            selector: { "strimzi.io/cluster": "orders" },
          },
        }),
        fm,
      );
      await central.apply(
        mr(
          "RemoteSecret",
          "ca",
          {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "orders-shared-ca-cert", namespace: "kafka", labels },
          },
          {
            forProvider: {
              secretRef: { namespace: "stretch-kafka-system", name: "shared", keys: ["ca.crt"] },
            },
          },
        ),
        fm,
      );
      const anchor = await eventually("anchor created", () =>
        remote("ConfigMap", "orders-stretch-anchor"),
      );
      const node = await eventually("owned ConfigMap created", () =>
        remote("ConfigMap", "orders-kafka-0"),
      );
      assert.deepEqual(
        node.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]),
        [["ConfigMap", "orders-stretch-anchor", anchor.metadata.uid, false]],
      );
      assert.equal(anchor.metadata.ownerReferences, undefined);
      const secret = await eventually("secret copied", () =>
        remote("Secret", "orders-shared-ca-cert"),
      );
      assert.deepEqual(
        Object.keys(secret.data ?? {}),
        ["ca.crt"],
        "only the listed key, never the CA key",
      );
      for (const [kind, name] of [
        ["RemoteConfigMap", "node-0"],
        ["RemoteService", "bootstrap"],
        ["RemoteSecret", "ca"],
      ] as const) {
        await eventually(`${kind} ${name} Ready`, async () =>
          (await condition(kind, name, "Ready"))?.status === "True" ? true : undefined,
        );
      }
      const svc = await central.get<Obj>(group, "RemoteService", "bootstrap");
      assert.ok(svc.metadata.finalizers?.includes(finalizer));
      assert.equal(
        svc.status?.atProvider?.["uid"],
        (await remote("Service", "orders-kafka-bootstrap"))?.metadata.uid,
      );
      assert.ok(svc.status?.atProvider?.["clusterIP"]);
      assert.equal(JSON.stringify(svc.status).includes("managedFields"), false);
      const secretMr = await central.get<Obj>(group, "RemoteSecret", "ca");
      assert.deepEqual(secretMr.status?.atProvider?.["keys"], ["ca.crt"]);
      assert.equal(
        JSON.stringify(secretMr).includes("UEVN"),
        false,
        "no key material in the managed resource",
      );
    },
  );

  test(
    "a second managed resource for the same remote object is refused, and its deletion leaves the object",
    { timeout: 60_000 },
    async () => {
      const first = await remote("Secret", "orders-shared-ca-cert");
      assert.ok(first);
      assert.equal(
        first.metadata.annotations?.["remote.stretchkafka.dev/managed-resource"],
        "RemoteSecret/ca",
      );
      await central.apply(
        mr(
          "RemoteSecret",
          "ca-twin",
          {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "orders-shared-ca-cert", namespace: "kafka", labels },
          },
          { forProvider: { caCertificate: { authority: "orders", issuer: "ClusterCA" } } },
        ),
        fm,
      );
      const refused = await eventually("the twin is refused", async () => {
        const c = await condition("RemoteSecret", "ca-twin", "Synced");
        return c?.reason === "Conflict" ? c : undefined;
      });
      assert.equal(refused.status, "False");
      assert.match(
        refused.message ?? "",
        /Secret kafka\/orders-shared-ca-cert in cluster east is already managed by RemoteSecret\/ca; .*delete one of them or give its manifest another name/,
      );
      const kept = await remote("Secret", "orders-shared-ca-cert");
      assert.deepEqual(kept?.data, first.data, "the first resource's data is untouched");

      await central.delete(group, "RemoteSecret", "ca-twin");
      await eventually("the twin is gone", async () =>
        (await central.find(group, "RemoteSecret", "ca-twin")) ? undefined : true,
      );
      const still = await remote("Secret", "orders-shared-ca-cert");
      assert.equal(still?.metadata.uid, first.metadata.uid, "deleting the twin left the object");
      assert.deepEqual(still?.data, first.data);
      assert.equal((await condition("RemoteSecret", "ca", "Synced"))?.status, "True");
    },
  );

  test(
    "ProviderConfigs report reachability, version, users, and what is wrong",
    { timeout: 60_000 },
    async () => {
      type Pc = KubeObject & {
        metadata: { finalizers?: string[] };
        status?: {
          serverVersion?: string;
          users?: number;
          lastError?: string;
          conditions?: { type: string; status: string; reason: string; message?: string }[];
        };
      };
      const pc = await eventually("east reported Ready", async () => {
        const p = await central.get<Pc>(group, "ProviderConfig", "east");
        return p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") &&
          (p.status.users ?? 0) > 0
          ? p
          : undefined;
      });
      assert.match(pc.status?.serverVersion ?? "", /^v1\.35\./);
      assert.ok(pc.metadata.finalizers?.includes("in-use.crossplane.io"));
      assert.equal(pc.status?.conditions?.find((c) => c.type === "InsecureTLS")?.status, "False");
      const usages = await central.list<
        KubeObject & {
          providerConfigRef: { name: string };
          resourceRef: { kind: string; name: string };
        }
      >(group, "ProviderConfigUsage");
      assert.ok(
        usages.items.some(
          (u) =>
            u.providerConfigRef.name === "east" &&
            u.resourceRef.kind === "RemoteService" &&
            u.resourceRef.name === "bootstrap",
        ),
      );

      await central.apply(
        {
          apiVersion: group,
          kind: "ProviderConfig",
          metadata: { name: "broken" },
          spec: {
            credentials: {
              source: "Secret",
              secretRef: { namespace: "stretch-kafka-system", name: "missing" },
            },
          },
        },
        fm,
      );
      const broken = await eventually("broken reported", async () => {
        const p = await central.get<Pc>(group, "ProviderConfig", "broken");
        return p.status?.conditions?.find((c) => c.type === "Ready" && c.status === "False")
          ? p
          : undefined;
      });
      assert.equal(
        broken.status?.conditions?.find((c) => c.type === "Ready")?.reason,
        "InvalidCredentials",
      );
      assert.ok(broken.status);
      assert.match(
        broken.status.lastError ?? "",
        /Secret stretch-kafka-system\/missing named by ProviderConfig "broken" does not exist/,
      );

      await central.apply(
        {
          apiVersion: group,
          kind: "ProviderConfig",
          metadata: { name: "insecure" },
          spec: {
            credentials: {
              source: "Secret",
              secretRef: { namespace: "stretch-kafka-system", name: "east-credentials" },
            },
            insecureSkipTLSVerify: true,
          },
        },
        fm,
      );
      const insecure = await eventually("insecure warned about", async () => {
        const p = await central.get<Pc>(group, "ProviderConfig", "insecure");
        return p.status?.conditions?.find((c) => c.type === "InsecureTLS" && c.status === "True")
          ? p
          : undefined;
      });
      assert.match(
        insecure.status?.conditions?.find((c) => c.type === "InsecureTLS")?.message ?? "",
        /TLS verification of https:\/\/127\.0\.0\.1:\d+ is off/,
      );
      for (const name of ["broken", "insecure"])
        await central.delete(group, "ProviderConfig", name);
      await eventually("unused ProviderConfigs deleted", async () =>
        (await central.find(group, "ProviderConfig", "broken")) ||
        (await central.find(group, "ProviderConfig", "insecure"))
          ? undefined
          : true,
      );
    },
  );

  test(
    "corrects a hand edit and a hand deletion in the remote cluster through the watch",
    { timeout: 60_000 },
    async () => {
      const events = async (name: string): Promise<string[]> =>
        (
          await central.list<KubeObject & { reason: string; involvedObject: { name: string } }>(
            "v1",
            "Event",
            { namespace: "default" },
          )
        ).items
          .filter((e) => e.involvedObject.name === name)
          .map((e) => e.reason);
      await eventually("creation is recorded as an event", async () =>
        (await events("bootstrap")).includes("CreatedExternalResource") ? true : undefined,
      );
      const edited = await east.get<Obj>("v1", "ConfigMap", "orders-kafka-0", "kafka");
      await east.apply(
        { ...cm("orders-kafka-0", { "server.config": "node.id=99" }) },
        { fieldManager: "kubectl-edit" },
      );
      await eventually("hand edit reverted", async () => {
        const o = await remote("ConfigMap", "orders-kafka-0");
        return o?.data?.["server.config"] === "node.id=0" &&
          o.metadata.resourceVersion !== edited.metadata.resourceVersion
          ? true
          : undefined;
      });
      await eventually("the correction is recorded as an event", async () =>
        (await events("node-0")).includes("UpdatedExternalResource") ? true : undefined,
      );
      const before = await remote("Service", "orders-kafka-bootstrap");
      await east.delete("v1", "Service", "orders-kafka-bootstrap", "kafka");
      await eventually("deleted Service recreated", async () => {
        const o = await remote("Service", "orders-kafka-bootstrap");
        return o && o.metadata.uid !== before?.metadata.uid ? true : undefined;
      });
    },
  );

  test("applies a changed managed resource", { timeout: 60_000 }, async () => {
    await central.apply(
      mr(
        "RemoteConfigMap",
        "node-0",
        cm("orders-kafka-0", { "server.config": "node.id=0\nnum.io.threads=16" }),
      ),
      fm,
    );
    await eventually("update applied", async () =>
      (await remote("ConfigMap", "orders-kafka-0"))?.data?.["server.config"]?.includes(
        "num.io.threads=16",
      )
        ? true
        : undefined,
    );
  });

  test(
    "a StrimziPodSet waits for Strimzi to see its Kafka CR, and is Ready only when its pods are",
    { timeout: 60_000 },
    async () => {
      await central.apply(
        mr("RemoteKafka", "kafka", {
          apiVersion: "kafka.strimzi.io/v1",
          kind: "Kafka",
          metadata: {
            name: "orders",
            namespace: "kafka",
            labels,
            annotations: { "strimzi.io/pause-reconciliation": "true" },
          },
          spec: {
            kafka: { listeners: [{ name: "plain", port: 9092, type: "internal", tls: false }] },
          },
        }),
        fm,
      );
      const podLabels = {
        ...labels,
        "strimzi.io/kind": "Kafka",
        "strimzi.io/pool-name": "brokers",
      };
      await central.apply(
        mr("RemoteStrimziPodSet", "brokers", {
          apiVersion: "core.strimzi.io/v1",
          kind: "StrimziPodSet",
          metadata: {
            name: "orders-brokers",
            namespace: "kafka",
            labels: { ...labels, "strimzi.io/kind": "Kafka" },
          },
          spec: {
            selector: {
              matchLabels: { "strimzi.io/cluster": "orders", "strimzi.io/pool-name": "brokers" },
            },
            pods: [
              {
                apiVersion: "v1",
                kind: "Pod",
                metadata: {
                  name: "orders-brokers-0",
                  labels: podLabels,
                  annotations: { "strimzi.io/revision": "r1" },
                },
                spec: { containers: [{ name: "kafka", image: "kafka" }] },
              },
            ],
          },
        }),
        fm,
      );
      const unseen = await eventually(
        "the podset waits for Strimzi to see the Kafka CR",
        async () => {
          const c = await condition("RemoteStrimziPodSet", "brokers", "Ready");
          return c?.message?.includes("Kafka kafka/orders") ? c : undefined;
        },
      );
      assert.match(unseen.message ?? "", /has not shown it has seen it/);
      assert.equal(
        await remote("StrimziPodSet", "orders-brokers", "core.strimzi.io/v1"),
        undefined,
      );

      // Play Strimzi: its Kafka reconciler marks the paused CR.
      await east.apply(
        {
          apiVersion: "kafka.strimzi.io/v1",
          kind: "Kafka",
          metadata: { name: "orders", namespace: "kafka" },
          status: {
            conditions: [{ type: "ReconciliationPaused", status: "True" }],
            observedGeneration: 0,
          },
        },
        { fieldManager: "strimzi-cluster-operator", subresource: "status" },
      );
      const ps = await eventually("podset created", () =>
        remote("StrimziPodSet", "orders-brokers", "core.strimzi.io/v1"),
      );
      const waiting = await eventually("podset not ready yet", async () => {
        const c = await condition("RemoteStrimziPodSet", "brokers", "Ready");
        return c?.status === "False" && c.message?.includes("not reconciled") ? c : undefined;
      });
      assert.match(waiting.message ?? "", /Strimzi operator has not reconciled it yet/);
      // Its podset controller reports a ready pod: status alone is not believed.
      await east.apply(
        {
          apiVersion: "core.strimzi.io/v1",
          kind: "StrimziPodSet",
          metadata: { name: "orders-brokers", namespace: "kafka" },
          status: {
            observedGeneration: ps.metadata.generation,
            pods: 1,
            readyPods: 1,
            currentPods: 1,
          },
        },
        { fieldManager: "strimzi-cluster-operator", subresource: "status" },
      );
      const noPod = await eventually("not Ready without the pod", async () => {
        const c = await condition("RemoteStrimziPodSet", "brokers", "Ready");
        return c?.message?.includes("does not exist") ? c : undefined;
      });
      assert.equal(noPod.status, "False");
      assert.match(noPod.message ?? "", /0 of 1 pods ready: pod orders-brokers-0 does not exist/);
      // The pod, as Strimzi creates it from the podset, and the kubelet's Ready.
      const entry = (ps["spec"] as { pods: KubeObject[] }).pods[0] as KubeObject;
      await east.create({ ...entry, metadata: { ...entry.metadata, namespace: "kafka" } });
      const notReadyYet = await eventually("not Ready while the pod is not", async () => {
        const c = await condition("RemoteStrimziPodSet", "brokers", "Ready");
        return c?.message?.includes("is not Ready") ? c : undefined;
      });
      assert.equal(notReadyYet.status, "False");
      await east.apply(
        {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "orders-brokers-0", namespace: "kafka" },
          status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
        },
        { fieldManager: "kubelet", subresource: "status" },
      );
      await eventually("podset Ready", async () =>
        (await condition("RemoteStrimziPodSet", "brokers", "Ready"))?.status === "True"
          ? true
          : undefined,
      );
      const status = (await central.get<Obj>(group, "RemoteStrimziPodSet", "brokers")).status
        ?.atProvider;
      assert.deepEqual(
        [status?.["pods"], status?.["readyPods"], status?.["currentPods"]],
        [1, 1, 1],
      );
    },
  );

  test("Observe only never creates; paused does nothing", { timeout: 60_000 }, async () => {
    await central.apply(
      mr("RemoteConfigMap", "observed", cm("orders-observed", { a: "b" }), {
        managementPolicies: ["Observe"],
      }),
      fm,
    );
    const ready = await eventually("observe-only reported", () =>
      condition("RemoteConfigMap", "observed", "Ready"),
    );
    assert.match(
      ready.message ?? "",
      /does not exist and the management policies do not allow creating it/,
    );
    assert.equal(await remote("ConfigMap", "orders-observed"), undefined);

    const paused = mr("RemoteConfigMap", "paused", cm("orders-paused", { a: "b" }));
    paused.metadata.annotations = { "crossplane.io/paused": "true" };
    await central.apply(paused, fm);
    const synced = await eventually("paused reported", () =>
      condition("RemoteConfigMap", "paused", "Synced"),
    );
    assert.equal(synced.reason, "ReconcilePaused");
    assert.equal(await remote("ConfigMap", "orders-paused"), undefined);
  });

  test(
    "Delete removes the remote object; Orphan keeps it and drops the anchor's ownership",
    { timeout: 60_000 },
    async () => {
      await central.delete(group, "RemoteService", "bootstrap");
      await eventually("remote Service deleted", async () =>
        (await remote("Service", "orders-kafka-bootstrap")) ? undefined : true,
      );
      await eventually("managed resource gone", async () =>
        (await central.find(group, "RemoteService", "bootstrap")) ? undefined : true,
      );

      await central.apply(
        mr(
          "RemoteConfigMap",
          "node-0",
          cm("orders-kafka-0", { "server.config": "node.id=0\nnum.io.threads=16" }),
          { deletionPolicy: "Orphan" },
        ),
        fm,
      );
      await central.delete(group, "RemoteConfigMap", "node-0");
      await eventually("orphaning managed resource gone", async () =>
        (await central.find(group, "RemoteConfigMap", "node-0")) ? undefined : true,
      );
      const orphan = await remote("ConfigMap", "orders-kafka-0");
      assert.ok(orphan, "an Orphan deletion must not delete the remote object");
      assert.deepEqual(
        orphan.metadata.ownerReferences ?? [],
        [],
        "the orphan no longer belongs to the anchor",
      );
    },
  );

  test(
    "mints node certificates from the cluster CA, whose key stays central",
    { timeout: 60_000 },
    async () => {
      const certificate = {
        authority: "orders",
        commonName: "orders-kafka",
        issuer: "ClusterCA",
        dnsNames: ["orders-brokers-0.east.orders-kafka-brokers.kafka.svc.clusterset.local"],
        keys: {
          certificate: "orders-brokers-0.crt",
          privateKey: "orders-brokers-0.key",
          ca: "ca.crt",
        },
      };
      const nodeSecret = (extraLabels: Record<string, string> = {}): KubeObject =>
        mr(
          "RemoteSecret",
          "node-0-cert",
          {
            apiVersion: "v1",
            kind: "Secret",
            metadata: {
              name: "orders-brokers-0",
              namespace: "kafka",
              labels: { ...labels, ...extraLabels },
            },
          },
          { forProvider: { certificate } },
        );
      await central.apply(nodeSecret(), fm);
      await central.apply(
        mr(
          "RemoteSecret",
          "cluster-ca-cert",
          {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "orders-cluster-ca-cert", namespace: "kafka", labels },
          },
          { forProvider: { caCertificate: { authority: "orders", issuer: "ClusterCA" } } },
        ),
        fm,
      );
      const secret = await eventually("node certificate written", async () => {
        const s = await remote("Secret", "orders-brokers-0");
        return Object.keys(s?.data ?? {}).length === 3 ? s : undefined;
      });
      const text = (k: string): string =>
        Buffer.from(secret.data?.[k] ?? "", "base64").toString("utf8");
      const caSecret = await central.get<Obj>(
        "v1",
        "Secret",
        "orders-cluster-ca",
        "stretch-kafka-system",
      );
      const caCert = new X509Certificate(Buffer.from(caSecret.data?.["ca.crt"] ?? "", "base64"));
      const leaf = new X509Certificate(text("orders-brokers-0.crt"));
      assert.ok(leaf.verify(caCert.publicKey), "signed by the central cluster CA");
      assert.equal(
        leaf.subjectAltName,
        "DNS:orders-brokers-0.east.orders-kafka-brokers.kafka.svc.clusterset.local",
      );
      assert.equal(createPrivateKey(text("orders-brokers-0.key")).asymmetricKeyType, "rsa");
      assert.match(text("orders-brokers-0.key"), /^-----BEGIN PRIVATE KEY-----/);
      const published = await eventually("CA certificate published", () =>
        remote("Secret", "orders-cluster-ca-cert"),
      );
      assert.deepEqual(Object.keys(published.data ?? {}), ["ca.crt"]);
      assert.equal(
        new X509Certificate(Buffer.from(published.data?.["ca.crt"] ?? "", "base64")).fingerprint256,
        caCert.fingerprint256,
      );

      // No key material but in the node's own Secret: not in managed resources, no CA key remotely.
      for (const name of ["node-0-cert", "cluster-ca-cert"]) {
        const m = JSON.stringify(await central.get(group, "RemoteSecret", name));
        assert.equal(
          m.includes("PRIVATE KEY") || m.includes("LS0tLS1CRUdJTiBQUklWQVRF"),
          false,
          name,
        );
      }
      for (const s of (await east.list<Obj>("v1", "Secret", { namespace: "kafka" })).items) {
        assert.equal(
          Object.keys(s.data ?? {}).includes("ca.key"),
          false,
          `${s.metadata.name ?? ""} holds a CA key`,
        );
      }
      const withCert = await eventually("certificate in status", async () => {
        const m = await central.get<Obj>(group, "RemoteSecret", "node-0-cert");
        return m.status?.atProvider?.["certificate"] ? m : undefined;
      });
      assert.equal(
        (withCert.status?.atProvider?.["certificate"] as { serialNumber: string }).serialNumber,
        leaf.serialNumber,
      );

      // Reconciling again keeps the valid certificate and key.
      await central.apply(nodeSecret({ touched: "yes" }), fm);
      const after = await eventually("relabelled", async () => {
        const s = await remote("Secret", "orders-brokers-0");
        return s?.metadata.labels?.["touched"] === "yes" ? s : undefined;
      });
      assert.equal(after.data?.["orders-brokers-0.crt"], secret.data?.["orders-brokers-0.crt"]);
      assert.equal(after.data?.["orders-brokers-0.key"], secret.data?.["orders-brokers-0.key"]);
    },
  );

  test(
    "the anchor goes last, then the remote garbage collector takes what it owned",
    { timeout: 120_000 },
    async () => {
      const anchor = await remote("ConfigMap", "orders-stretch-anchor");
      assert.ok(anchor?.metadata.uid);
      // Something the anchor owns that no managed resource deletes (an abandoned one's object).
      await east.apply(
        {
          ...cm("orders-leftover", { left: "over" }),
          metadata: {
            name: "orders-leftover",
            namespace: "kafka",
            ownerReferences: [
              {
                apiVersion: "v1",
                kind: "ConfigMap",
                name: "orders-stretch-anchor",
                uid: anchor.metadata.uid,
                controller: false,
              },
            ],
          },
        },
        fm,
      );
      // Hold the podset's remote deletion, so its managed resource cannot finish first.
      const hold = { fieldManager: "test-hold" };
      const podset = {
        apiVersion: "core.strimzi.io/v1",
        kind: "StrimziPodSet",
        metadata: { name: "orders-brokers", namespace: "kafka" },
      };
      await east.apply(
        { ...podset, metadata: { ...podset.metadata, finalizers: ["test.stretchkafka.dev/hold"] } },
        hold,
      );

      for (const [kind, name] of [
        ["RemoteConfigMap", "anchor"],
        ["RemoteStrimziPodSet", "brokers"],
        ["RemoteKafka", "kafka"],
        ["RemoteSecret", "node-0-cert"],
        ["RemoteSecret", "cluster-ca-cert"],
        ["RemoteSecret", "ca"],
        ["RemoteConfigMap", "observed"],
        ["RemoteConfigMap", "paused"],
      ] as const) {
        await central.delete(group, kind, name);
      }
      const waiting = await eventually("the anchor waits for what it owns", async () => {
        const c = await condition("RemoteConfigMap", "anchor", "Ready");
        return c?.reason === "Deleting" && c.message?.includes("RemoteStrimziPodSet/brokers")
          ? c
          : undefined;
      });
      assert.match(
        waiting.message ?? "",
        /waiting for 1 managed resource\(s\) owned by this anchor to go first/,
      );
      assert.ok(
        await remote("ConfigMap", "orders-stretch-anchor"),
        "the anchor must outlive what it owns",
      );

      await east.apply({ ...podset, metadata: { ...podset.metadata, finalizers: [] } }, hold);
      await eventually(
        "every managed resource gone",
        async () => {
          for (const k of [
            "RemoteConfigMap",
            "RemoteStrimziPodSet",
            "RemoteKafka",
            "RemoteSecret",
          ]) {
            if ((await central.list(group, k)).items.length > 0) return undefined;
          }
          return true;
        },
        90,
      );
      assert.equal(await remote("ConfigMap", "orders-stretch-anchor"), undefined);
      assert.equal(
        await remote("StrimziPodSet", "orders-brokers", "core.strimzi.io/v1"),
        undefined,
      );
      await eventually("the garbage collector removed what the anchor still owned", async () =>
        (await remote("ConfigMap", "orders-leftover")) ? undefined : true,
      );
      assert.ok(await remote("ConfigMap", "orders-kafka-0"), "the orphan survives the anchor");
    },
  );

  test(
    "a ProviderConfig in use cannot be deleted until its managed resources are gone",
    { timeout: 60_000 },
    async () => {
      await central.apply(
        mr("RemoteConfigMap", "anchor", cm("orders-stretch-anchor", { purpose: "anchor" })),
        fm,
      );
      await eventually("anchor Ready", async () =>
        (await condition("RemoteConfigMap", "anchor", "Ready"))?.status === "True"
          ? true
          : undefined,
      );
      await central.delete(group, "ProviderConfig", "east");
      const blocked = await eventually("deletion blocked", async () => {
        const p = await central.get<
          KubeObject & {
            status?: { conditions?: { type: string; reason: string; message?: string }[] };
          }
        >(group, "ProviderConfig", "east");
        const c = p.status?.conditions?.find((x) => x.type === "Ready");
        return p.metadata.deletionTimestamp && c?.reason === "InUse" ? c : undefined;
      });
      assert.match(
        blocked.message ?? "",
        /1 managed resource\(s\) still use this ProviderConfig, e\.g\. RemoteConfigMap\/anchor/,
      );
      await central.delete(group, "RemoteConfigMap", "anchor");
      await eventually("ProviderConfig gone once unused", async () =>
        (await central.find(group, "ProviderConfig", "east")) ? undefined : true,
      );
      assert.equal(await remote("ConfigMap", "orders-stretch-anchor"), undefined);
    },
  );
});
