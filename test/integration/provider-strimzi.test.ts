/**
 * The provider against Strimzi's podset controller as it really behaves
 * (devbed/strimzi-player.ts, docs/adr/0006): a podset event whose
 * Kafka CR is not in Strimzi's cache is dropped until a resync minutes later,
 * podset status is written only when Strimzi reconciles, and after an
 * operator restart the podsets can arrive before the Kafka CRs. The player's
 * resync is set far beyond every wait here, so only the provider can make
 * these tests pass. Real API server, real garbage collector.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { StrimziPlayer } from "../../devbed/strimzi-player.ts";
import type { DynamicClient, KubeObject } from "../../controller/kube/dynamic.ts";
import { Provider } from "../../controller/provider/provider.ts";
import { eventually } from "../../devbed/eventually.ts";
import {
  fastQueue,
  fm,
  group,
  providerBed,
  testLogger,
  type ProviderBed,
} from "../../devbed/provider-bed.ts";
import { teardown } from "../teardown.ts";

let pb: ProviderBed;
let central: DynamicClient;
let east: DynamicClient;
let provider: Provider;
let player: StrimziPlayer;

interface Condition {
  type: string;
  status: string;
  message?: string;
  lastTransitionTime?: string;
}
type Mr = KubeObject & { status?: { conditions?: Condition[] } };

const strimziLabels = { "strimzi.io/cluster": "orders", "strimzi.io/kind": "Kafka" };

function mr(kind: string, name: string, manifest: KubeObject, anchored = true): KubeObject {
  return {
    apiVersion: group,
    kind,
    metadata: { name },
    spec: {
      providerConfigRef: { name: "east" },
      forProvider: {
        manifest,
        ...(anchored ? { ownerAnchor: { name: "orders-stretch-anchor" } } : {}),
      },
    },
  };
}

const meta = (name: string, labels: Record<string, string> = {}): KubeObject["metadata"] => ({
  name,
  namespace: "kafka",
  labels: { ...strimziLabels, ...labels },
});

const podSet = mr("RemoteStrimziPodSet", "brokers", {
  apiVersion: "core.strimzi.io/v1",
  kind: "StrimziPodSet",
  metadata: meta("orders-brokers"),
  spec: {
    selector: { matchLabels: { ...strimziLabels, "strimzi.io/pool-name": "brokers" } },
    pods: [
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: "orders-brokers-0",
          labels: { ...strimziLabels, "strimzi.io/pool-name": "brokers" },
          annotations: { "strimzi.io/revision": "r1" },
        },
        spec: {
          serviceAccountName: "orders-kafka",
          containers: [{ name: "kafka", image: "kafka" }],
          volumes: [{ name: "config", configMap: { name: "orders-brokers-0" } }],
        },
      },
    ],
  },
});

/** What the podset needs, besides itself: anchor, Kafka CR, ServiceAccount, the pod's ConfigMap. */
const rest = [
  mr(
    "RemoteConfigMap",
    "anchor",
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: meta("orders-stretch-anchor"),
      data: { purpose: "anchor" },
    },
    false,
  ),
  mr("RemoteKafka", "kafka", {
    apiVersion: "kafka.strimzi.io/v1",
    kind: "Kafka",
    metadata: {
      ...meta("orders"),
      annotations: { "strimzi.io/pause-reconciliation": "true" },
    },
    spec: { kafka: { listeners: [{ name: "plain", port: 9092, type: "internal", tls: false }] } },
  }),
  mr("RemoteServiceAccount", "account", {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: meta("orders-kafka"),
  }),
  mr("RemoteConfigMap", "node-0", {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: meta("orders-brokers-0"),
    data: { "server.config": "node.id=0" },
  }),
];

const condition = async (
  kind: string,
  name: string,
  type: string,
): Promise<Condition | undefined> =>
  (await central.find<Mr>(group, kind, name))?.status?.conditions?.find((c) => c.type === type);

const pod = (): Promise<KubeObject | undefined> =>
  east.find("v1", "Pod", "orders-brokers-0", "kafka");

before(async () => {
  pb = await providerBed({ remotes: ["east"], strimzi: true });
  central = pb.central;
  east = pb.remote("east");
  provider = new Provider(
    central,
    testLogger(),
    fastQueue,
    "stretch-kafka-system",
    undefined,
    2000,
  );
  await provider.start();
  // Strimzi's resync, far beyond any wait below: only the provider can help.
  player = new StrimziPlayer("east", east, "kafka", testLogger(), { resyncMs: 3_600_000 });
  player.start();
});

after(async () => {
  await teardown(
    () => player.stop(),
    () => provider.stop(),
    () => pb.close(),
  );
});

test(
  "a podset is applied only once Strimzi has seen its Kafka CR, and then gets its pods at once",
  { timeout: 120_000 },
  async () => {
    await central.apply(podSet, fm);
    const waiting = await eventually("the podset waits for its Kafka CR", async () => {
      const c = await condition("RemoteStrimziPodSet", "brokers", "Ready");
      return c?.status === "False" && c.message?.includes("waiting for") ? c : undefined;
    });
    assert.match(
      waiting.message ?? "",
      /waiting for the anchor ConfigMap kafka\/orders-stretch-anchor/,
    );
    // A new managed resource waits quietly for the ordering grace (5 s) before
    // it says so: its first status, this condition, is written no sooner.
    const created = (await central.get(group, "RemoteStrimziPodSet", "brokers")).metadata
      .creationTimestamp;
    assert.ok(
      Date.parse(waiting.lastTransitionTime ?? "") - Date.parse(created ?? "") >= 4000,
      `the wait was reported at ${String(waiting.lastTransitionTime)}, the podset created at ${String(created)}: sooner than the grace`,
    );
    assert.equal(
      await east.find("core.strimzi.io/v1", "StrimziPodSet", "orders-brokers", "kafka"),
      undefined,
      "not applied before Strimzi can act on it",
    );
    // The anchor first, so the next wait is the Kafka CR's.
    await central.apply(rest[0] as KubeObject, fm);
    const forKafka = await eventually("the podset names the Kafka CR it waits for", async () => {
      const c = await condition("RemoteStrimziPodSet", "brokers", "Ready");
      return c?.message?.includes("Kafka kafka/orders") ? c : undefined;
    });
    assert.match(
      forKafka.message ?? "",
      /waiting for Kafka kafka\/orders to exist in cluster east/,
    );

    for (const o of rest.slice(1)) await central.apply(o, fm);
    await eventually("the pod exists and the podset is Ready", async () =>
      (await pod()) &&
      (await condition("RemoteStrimziPodSet", "brokers", "Ready"))?.status === "True"
        ? true
        : undefined,
    );
    assert.deepEqual(player.dropped, [], "Strimzi never had to drop the podset");
    const remote = await east.get("core.strimzi.io/v1", "StrimziPodSet", "orders-brokers", "kafka");
    assert.equal(
      remote.metadata.labels?.["app.kubernetes.io/managed-by"],
      "stretch-kafka",
      "the provider stamps the label its caches select on",
    );
  },
);

test(
  "a pod missing behind stale podset status is not Ready, and after a Strimzi restart race the podset is touched until the pod is back",
  { timeout: 120_000 },
  async () => {
    const before = await pod();
    assert.ok(before?.metadata.uid);
    await eventually("Strimzi has reported the pod ready", async () =>
      (
        await east.get<KubeObject & { status?: { readyPods?: number } }>(
          "core.strimzi.io/v1",
          "StrimziPodSet",
          "orders-brokers",
          "kafka",
        )
      ).status?.readyPods === 1
        ? true
        : undefined,
    );
    // Strimzi is down; the pod goes (a node failure, a hand delete).
    await player.stop();
    await east.delete("v1", "Pod", "orders-brokers-0", "kafka");
    // First terminating, then gone: the podset says so, not Ready.
    const notReady = await eventually(
      "the podset is not Ready: its pod does not exist",
      async () => {
        const c = await condition("RemoteStrimziPodSet", "brokers", "Ready");
        return c?.message?.includes("does not exist") ? c : undefined;
      },
    );
    assert.equal(notReady.status, "False");
    assert.match(notReady.message ?? "", /0 of 1 pods ready: pod orders-brokers-0 does not exist/);
    const stale = await east.get<KubeObject & { status?: { readyPods?: number } }>(
      "core.strimzi.io/v1",
      "StrimziPodSet",
      "orders-brokers",
      "kafka",
    );
    assert.equal(stale.status?.readyPods, 1, "Strimzi's status is stale: it still says 1 ready");
    const counted = await eventually("the counts come from the pods", async () => {
      const m = await central.find<
        Mr & { status?: { atProvider?: { pods?: number; readyPods?: number } } }
      >(group, "RemoteStrimziPodSet", "brokers");
      return m?.status?.atProvider?.readyPods === 0 ? m.status.atProvider : undefined;
    });
    assert.deepEqual(
      [counted.pods, counted.readyPods],
      [1, 0],
      "what status and `stretch-kafka status` show: 0 of 1 ready",
    );

    // Strimzi comes back; its podset informer lists before its Kafka informer.
    const droppedBefore = player.dropped.length;
    await player.restart({ kafkaInformerLate: true });
    await eventually("Strimzi dropped the podset at startup", () =>
      Promise.resolve(player.dropped.length > droppedBefore ? true : undefined),
    );
    const back = await eventually("the pod is back and the podset Ready", async () => {
      const p = await pod();
      return p && (await condition("RemoteStrimziPodSet", "brokers", "Ready"))?.status === "True"
        ? p
        : undefined;
    });
    assert.notEqual(back.metadata.uid, before.metadata.uid, "a new pod");
    const events = (
      await central.list<KubeObject & { reason: string; involvedObject: { name: string } }>(
        "v1",
        "Event",
        { namespace: "default" },
      )
    ).items.filter((e) => e.involvedObject.name === "brokers");
    assert.ok(
      events.some((e) => e.reason === "NudgedRemoteOperator"),
      "the touch is recorded as an event saying why",
    );
  },
);

test(
  "an object applied without our label is stamped with it, so a hand edit is seen and put back",
  { timeout: 60_000 },
  async () => {
    await central.apply(
      mr("RemoteConfigMap", "unlabelled", {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "orders-unlabelled", namespace: "kafka" },
        data: { a: "b" },
      }),
      fm,
    );
    await eventually("created and Ready", async () =>
      (await condition("RemoteConfigMap", "unlabelled", "Ready"))?.status === "True"
        ? true
        : undefined,
    );
    const cm = await east.get("v1", "ConfigMap", "orders-unlabelled", "kafka");
    assert.equal(cm.metadata.labels?.["app.kubernetes.io/managed-by"], "stretch-kafka");
    await east.mergePatch("v1", "ConfigMap", "orders-unlabelled", "kafka", {
      data: { a: "edited" },
    });
    await eventually("the hand edit is put back", async () =>
      (
        await east.get<KubeObject & { data?: Record<string, string> }>(
          "v1",
          "ConfigMap",
          "orders-unlabelled",
          "kafka",
        )
      ).data?.["a"] === "b"
        ? true
        : undefined,
    );
  },
);

test(
  "a RemoteObjectSet carries the Kafka CR and a podset as their own kinds would: ordered, Ready with the pods, touched when Strimzi lets a pod go missing",
  { timeout: 120_000 },
  async () => {
    const ledger = (o: KubeObject): KubeObject => {
      const text = JSON.stringify(o).replaceAll("orders", "ledger");
      return JSON.parse(text) as KubeObject;
    };
    type Spec = { spec: { forProvider: Record<string, unknown> } };
    const entry = (name: string, o: KubeObject): Record<string, unknown> => ({
      name,
      kind: o.kind,
      forProvider: (ledger(o) as unknown as Spec).spec.forProvider,
    });
    const [anchorMr, kafkaMr, accountMr, nodeMr] = rest as [
      KubeObject,
      KubeObject,
      KubeObject,
      KubeObject,
    ];
    // The podset first: it waits for what it needs, as a managed resource of its own would.
    await central.apply(
      {
        apiVersion: group,
        kind: "RemoteObjectSet",
        metadata: { name: "ledger-east" },
        spec: {
          providerConfigRef: { name: "east" },
          forProvider: {
            objects: [
              entry("podset-brokers", podSet),
              entry("cm-node-0", nodeMr),
              entry("sa", accountMr),
              entry("kafka", kafkaMr),
              entry("anchor", anchorMr),
            ],
          },
        },
      },
      fm,
    );
    type SetStatus = {
      conditions?: Condition[];
      atProvider?: { objects?: { name: string; atProvider?: Record<string, unknown> }[] };
    };
    const setOf = async (): Promise<SetStatus | undefined> =>
      (await central.find<Mr & { status?: SetStatus }>(group, "RemoteObjectSet", "ledger-east"))
        ?.status;
    const ledgerPod = (): Promise<KubeObject | undefined> =>
      east.find("v1", "Pod", "ledger-brokers-0", "kafka");
    const ready = await eventually("the pod exists and the set is Ready", async () => {
      const s = await setOf();
      return (await ledgerPod()) &&
        s?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
        ? s
        : undefined;
    });
    const podsetStatus = ready.atProvider?.objects?.find((o) => o.name === "podset-brokers");
    assert.equal(podsetStatus?.atProvider?.["pods"], 1);
    assert.equal(podsetStatus.atProvider["readyPods"], 1);
    const before = await ledgerPod();

    // Strimzi is down and the pod goes: the set says which object is not ready, and why.
    await player.stop();
    await east.delete("v1", "Pod", "ledger-brokers-0", "kafka");
    const notReady = await eventually("the set is not Ready: its pod does not exist", async () => {
      const c = (await setOf())?.conditions?.find((x) => x.type === "Ready");
      return c?.message?.includes("does not exist") ? c : undefined;
    });
    assert.match(
      notReady.message ?? "",
      /1 of 5 objects not ready: podset-brokers: 0 of 1 pods ready: pod ledger-brokers-0 does not exist/,
    );
    // Strimzi comes back and drops the podset at startup: only the provider's touch brings the pod back.
    await player.restart({ kafkaInformerLate: true });
    const back = await eventually("the pod is back and the set Ready", async () => {
      const p = await ledgerPod();
      const c = (await setOf())?.conditions?.find((x) => x.type === "Ready");
      return p && c?.status === "True" ? p : undefined;
    });
    assert.notEqual(back.metadata.uid, before?.metadata.uid, "a new pod");
    const events = (
      await central.list<
        KubeObject & { reason: string; involvedObject: { kind: string; name: string } }
      >("v1", "Event", { namespace: "default" })
    ).items.filter(
      (e) => e.involvedObject.kind === "RemoteObjectSet" && e.involvedObject.name === "ledger-east",
    );
    assert.ok(
      events.some((e) => e.reason === "NudgedRemoteOperator"),
      `the touch is recorded on the set: ${events.map((e) => e.reason).join(", ")}`,
    );
  },
);
