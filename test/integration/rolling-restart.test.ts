/**
 * The cross-cluster rolling restart on real API servers. The test plays the
 * remote Strimzi podset controller and kubelet: a deleted pod is recreated
 * from the podset's current template and reported Ready a moment later.
 * Checked: one node at a time across both clusters, brokers before
 * controllers, and nothing while a node is not Ready, a cluster is
 * unreachable, or Kafka cannot be asked. (Kafka's own checks before each
 * restart are proven on real Kafka in kafka-day2.test.ts.)
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { DynamicClient, type KubeObject } from "../../controller/kube/dynamic.ts";
import { Provider } from "../../controller/provider/provider.ts";
import { eventually } from "../../devbed/eventually.ts";
import { fastQueue, providerBed, testLogger, type ProviderBed } from "../../devbed/provider-bed.ts";
import { teardown } from "../teardown.ts";

const group = "remote.stretchkafka.dev/v1alpha1";
const fm = { fieldManager: "test" };
let central: DynamicClient;
const remotes = new Map<string, DynamicClient>();
let provider: Provider;
let pb: ProviderBed;

const nodes = [
  { cluster: "east", pool: "brokers", id: 0, broker: true, controller: false },
  { cluster: "east", pool: "controllers", id: 1, broker: false, controller: true },
  { cluster: "west", pool: "brokers", id: 2, broker: true, controller: false },
  { cluster: "west", pool: "controllers", id: 3, broker: false, controller: true },
];

type Pod = KubeObject & { status?: { conditions?: { type: string; status: string }[] } };

function podTemplate(n: (typeof nodes)[number], revision: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `orders-${n.pool}-${n.id}`,
      namespace: "kafka",
      labels: {
        "app.kubernetes.io/managed-by": "stretch-kafka",
        "strimzi.io/cluster": "orders",
        "strimzi.io/kind": "Kafka",
        "strimzi.io/pool-name": n.pool,
        "strimzi.io/broker-role": String(n.broker),
        "strimzi.io/controller-role": String(n.controller),
      },
      annotations: { "strimzi.io/revision": revision },
    },
    spec: { containers: [{ name: "kafka", image: "kafka" }] },
  };
}

async function setRevision(revision: string): Promise<void> {
  for (const cluster of ["east", "west"]) {
    for (const pool of ["brokers", "controllers"]) {
      const pods = nodes
        .filter((n) => n.cluster === cluster && n.pool === pool)
        .map((n) => podTemplate(n, revision));
      await central.apply(
        {
          apiVersion: group,
          kind: "RemoteStrimziPodSet",
          metadata: {
            name: `${cluster}-${pool}`,
            labels: { "stretchkafka.dev/composite": "orders" },
          },
          spec: {
            providerConfigRef: { name: cluster },
            forProvider: {
              manifest: {
                apiVersion: "core.strimzi.io/v1",
                kind: "StrimziPodSet",
                metadata: {
                  name: `orders-${pool}`,
                  namespace: "kafka",
                  labels: {
                    "app.kubernetes.io/managed-by": "stretch-kafka",
                    "strimzi.io/cluster": "orders",
                    "strimzi.io/kind": "Kafka",
                  },
                },
                spec: {
                  selector: {
                    matchLabels: { "strimzi.io/cluster": "orders", "strimzi.io/pool-name": pool },
                  },
                  pods,
                },
              },
            },
          },
        },
        fm,
      );
    }
  }
}

/** The played Strimzi: what it saw, and whether it should hold a pod back from Ready. */
const strimzi = {
  running: false,
  restarts: [] as string[],
  maxDown: 0,
  holdNotReady: new Set<string>(),
  /** Clusters whose API server is stopped: the loop leaves them alone. */
  stopped: new Set<string>(),
};

async function desiredRevision(cluster: string, pool: string): Promise<string> {
  const ps = await remotes
    .get(cluster)
    ?.find<KubeObject & { spec: { pods: KubeObject[] } }>(
      "core.strimzi.io/v1",
      "StrimziPodSet",
      `orders-${pool}`,
      "kafka",
    );
  return ps?.spec.pods[0]?.metadata.annotations?.["strimzi.io/revision"] ?? "";
}

/**
 * The rolling restart's own statement that it decided to wait (an event on a
 * podset), matching `message`: what "nothing restarted" is checked after.
 */
async function saidItWaits(
  message: RegExp,
): Promise<KubeObject & { reason?: string; message?: string }> {
  return eventually(`the roll says it waits (${message.source})`, async () => {
    const events = await central.list<KubeObject & { reason?: string; message?: string }>(
      "v1",
      "Event",
      { namespace: "default" },
    );
    return events.items.find(
      (e) => e.reason?.startsWith("RollWaits") === true && message.test(e.message ?? ""),
    );
  });
}

/** Plays Strimzi until stopped; a round that fails is tried again, as a controller would. */
async function playStrimzi(): Promise<void> {
  while (strimzi.running) {
    try {
      await playRound();
    } catch (err) {
      // E.g. a kept-alive connection to an API server that just restarted.
      console.error(`played Strimzi: a round failed, trying again: ${String(err)}`);
    }
    await sleep(100);
  }
}

/** What the kubelet reports of a pod's readiness. */
async function setReady(client: DynamicClient, name: string, ready: boolean): Promise<void> {
  await client.apply(
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: "kafka" },
      status: {
        phase: "Running",
        conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
      },
    },
    { fieldManager: "kubelet", subresource: "status" },
  );
}

/** One round: what the podset controller and the kubelet would do. */
async function playRound(): Promise<void> {
  // First a snapshot: only this loop makes pods Ready, so nothing can come up
  // while it is taken, and a second node down in it was really down with the first.
  const seen = new Map<string, Pod | undefined>();
  const reachable = nodes.filter((n) => !strimzi.stopped.has(n.cluster));
  for (const n of reachable) {
    seen.set(
      `orders-${n.pool}-${n.id}`,
      await remotes.get(n.cluster)?.find<Pod>("v1", "Pod", `orders-${n.pool}-${n.id}`, "kafka"),
    );
  }
  const isReady = (pod: Pod | undefined): boolean =>
    pod?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
  strimzi.maxDown = Math.max(strimzi.maxDown, [...seen.values()].filter((p) => !isReady(p)).length);
  // Then act as the podset controller and the kubelet would.
  for (const n of reachable) {
    const client = remotes.get(n.cluster);
    if (!client) continue;
    const name = `orders-${n.pool}-${n.id}`;
    const pod = seen.get(name);
    const revision = await desiredRevision(n.cluster, n.pool);
    if (!pod && revision) {
      strimzi.restarts.push(name);
      await client.create(podTemplate(n, revision));
    } else if (pod && !isReady(pod) && !strimzi.holdNotReady.has(name)) {
      // The new pod starts; a moment later it is Ready.
      await sleep(300);
      await setReady(client, name, true);
    } else if (pod && isReady(pod) && strimzi.holdNotReady.has(name)) {
      await setReady(client, name, false);
    }
  }
}

async function revisions(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of nodes) {
    const pod = await remotes
      .get(n.cluster)
      ?.find<Pod>("v1", "Pod", `orders-${n.pool}-${n.id}`, "kafka");
    const ready =
      pod?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
    out[`orders-${n.pool}-${n.id}`] =
      pod && ready ? (pod.metadata.annotations?.["strimzi.io/revision"] ?? "") : "down";
  }
  return out;
}

const all = (rev: string): Record<string, string> =>
  Object.fromEntries(nodes.map((n) => [`orders-${n.pool}-${n.id}`, rev]));

let strimziLoop: Promise<void> | undefined;

/** The RemoteKafka of a cluster: its paused Kafka CR, and the admin channel when one is given. */
function remoteKafka(cluster: string, kafkaAdmin?: Record<string, unknown>): KubeObject {
  return {
    apiVersion: group,
    kind: "RemoteKafka",
    metadata: { name: `${cluster}-kafka` },
    spec: {
      providerConfigRef: { name: cluster },
      forProvider: {
        manifest: {
          apiVersion: "kafka.strimzi.io/v1",
          kind: "Kafka",
          metadata: {
            name: "orders",
            namespace: "kafka",
            annotations: { "strimzi.io/pause-reconciliation": "true" },
          },
          spec: {
            kafka: { listeners: [{ name: "plain", port: 9092, type: "internal", tls: false }] },
          },
        },
        ...(kafkaAdmin ? { kafkaAdmin } : {}),
      },
    },
  };
}

/** The paused Kafka CR of each cluster, as Strimzi marks it once seen: the podsets wait for it. */
async function pausedKafkas(): Promise<void> {
  for (const cluster of ["east", "west"]) {
    await central.apply(remoteKafka(cluster), fm);
    const client = remotes.get(cluster) as DynamicClient;
    await eventually(`Kafka CR in ${cluster}`, () =>
      client.find("kafka.strimzi.io/v1", "Kafka", "orders", "kafka"),
    );
    await client.apply(
      {
        apiVersion: "kafka.strimzi.io/v1",
        kind: "Kafka",
        metadata: { name: "orders", namespace: "kafka" },
        status: { conditions: [{ type: "ReconciliationPaused", status: "True" }] },
      },
      { fieldManager: "strimzi-cluster-operator", subresource: "status" },
    );
  }
}

before(async () => {
  pb = await providerBed({ remotes: ["east", "west"], strimzi: true });
  central = pb.central;
  for (const name of ["east", "west"]) remotes.set(name, pb.remote(name));
  provider = new Provider(central, testLogger(), fastQueue);
  await provider.start();
  await pausedKafkas();
  strimzi.running = true;
  strimziLoop = playStrimzi();
});

after(async () => {
  strimzi.running = false;
  await teardown(
    () => strimziLoop,
    () => provider.stop(),
    () => pb.close(),
  );
});

test(
  "a new revision rolls one node at a time across clusters, brokers first",
  { timeout: 180_000 },
  async () => {
    await setRevision("a");
    await eventually("all nodes up at revision a", async () =>
      JSON.stringify(await revisions()) === JSON.stringify(all("a")) ? true : undefined,
    );
    strimzi.restarts.length = 0;
    strimzi.maxDown = 0;

    await setRevision("b");
    await eventually("all nodes rolled to revision b", async () =>
      JSON.stringify(await revisions()) === JSON.stringify(all("b")) ? true : undefined,
    );
    assert.deepEqual(
      strimzi.restarts,
      ["orders-brokers-0", "orders-brokers-2", "orders-controllers-1", "orders-controllers-3"],
      "brokers before controllers, each node once, in node order",
    );
    assert.equal(strimzi.maxDown, 1, "never a second node down while one is not Ready");
  },
);

test("nothing restarts while a node is not Ready", { timeout: 180_000 }, async () => {
  strimzi.holdNotReady.add("orders-controllers-3");
  await eventually("a node not Ready", async () =>
    (await revisions())["orders-controllers-3"] === "down" ? true : undefined,
  );
  strimzi.restarts.length = 0;
  await setRevision("c");
  // The provider has seen the new revision: every podset asks for it.
  await eventually("every podset asks for revision c", async () => {
    for (const cluster of ["east", "west"])
      for (const pool of ["brokers", "controllers"])
        if ((await desiredRevision(cluster, pool)) !== "c") return undefined;
    return true;
  });
  const said = await saidItWaits(
    /waits: pod kafka\/orders-controllers-3 in cluster \w+ is not Ready/,
  );
  assert.equal(said.reason, "RollWaits");
  assert.deepEqual(strimzi.restarts, [], "the cluster is degraded: no restart");
  assert.deepEqual(await revisions(), { ...all("b"), "orders-controllers-3": "down" });

  strimzi.holdNotReady.clear();
  strimzi.maxDown = 0;
  await eventually("rolled once the node is Ready again", async () =>
    JSON.stringify(await revisions()) === JSON.stringify(all("c")) ? true : undefined,
  );
  assert.equal(strimzi.restarts.length, 4);
  assert.equal(strimzi.maxDown, 1);
});

test("nothing restarts while a cluster is unreachable", { timeout: 240_000 }, async () => {
  await eventually("all nodes up at revision c", async () =>
    JSON.stringify(await revisions()) === JSON.stringify(all("c")) ? true : undefined,
  );
  strimzi.restarts.length = 0;
  strimzi.maxDown = 0;
  strimzi.stopped.add("west");
  const west = pb.bed.cluster("west");
  await west.stop();

  await setRevision("d");
  await eventually("east's podsets ask for revision d", async () =>
    (await desiredRevision("east", "brokers")) === "d" &&
    (await desiredRevision("east", "controllers")) === "d"
      ? true
      : undefined,
  );
  await saidItWaits(/waits: cluster west cannot be reached/);
  assert.deepEqual(strimzi.restarts, [], "a cluster is unreachable: no restart anywhere");

  await west.start();
  strimzi.stopped.delete("west");
  await eventually(
    "rolled once the cluster is back",
    async () => (JSON.stringify(await revisions()) === JSON.stringify(all("d")) ? true : undefined),
    120,
  );
  assert.equal(strimzi.restarts.length, 4);
  assert.equal(strimzi.maxDown, 1);
});

test(
  "nothing restarts while Kafka cannot be asked, once a RemoteKafka says how to ask it",
  { timeout: 180_000 },
  async () => {
    await eventually("all nodes up at revision d", async () =>
      JSON.stringify(await revisions()) === JSON.stringify(all("d")) ? true : undefined,
    );
    // The admin channel of this Kafka cluster points where nothing listens.
    const admin = {
      authority: "orders",
      bootstrapServers: ["127.0.0.1:1"],
      nodes: nodes.map((n) => ({
        id: n.id,
        cluster: n.cluster,
        roles: [...(n.broker ? ["broker"] : []), ...(n.controller ? ["controller"] : [])],
      })),
    };
    await central.apply(remoteKafka("east", admin), fm);
    strimzi.restarts.length = 0;
    strimzi.maxDown = 0;
    await setRevision("e");
    const waiting = await saidItWaits(
      /restart of kafka\/orders-brokers-0 in cluster east waits: Kafka cannot be asked/,
    );
    assert.equal(waiting.reason, "RollWaitsForKafka");
    assert.deepEqual(strimzi.restarts, [], "Kafka was not asked: no restart");

    // Without an admin channel named (as with --no-kafka-admin), pods' readiness alone decides.
    await central.apply(remoteKafka("east"), fm);
    await eventually(
      "rolled once no RemoteKafka names an admin channel",
      async () =>
        JSON.stringify(await revisions()) === JSON.stringify(all("e")) ? true : undefined,
      120,
    );
    assert.equal(strimzi.restarts.length, 4);
    assert.equal(strimzi.maxDown, 1);
  },
);
