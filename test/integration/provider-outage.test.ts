/**
 * A remote API server stops while work is under way: the other cluster's
 * managed resources keep converging, the affected ones say their cluster is
 * unreachable, nothing anywhere is deleted (a deletion waits, finalizer kept),
 * and everything converges once the cluster is back.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { DynamicClient, type KubeObject } from "../../controller/kube/dynamic.ts";
import { Provider } from "../../controller/provider/provider.ts";
import { finalizer } from "../../controller/provider/reconciler.ts";
import { type TestBed } from "../../devbed/clusters.ts";
import { eventually } from "../../devbed/eventually.ts";
import {
  fastQueue,
  providerBed,
  remoteConfigMap,
  testLogger,
  type ProviderBed,
} from "../../devbed/provider-bed.ts";
import { teardown } from "../teardown.ts";

const group = "remote.stretchkafka.dev/v1alpha1";
const fm = { fieldManager: "test" };
let bed: TestBed;
let central: DynamicClient;
const remotes = new Map<string, DynamicClient>();
let provider: Provider;
let pb: ProviderBed;

type Mr = KubeObject & {
  status?: {
    conditions?: { type: string; status: string; reason: string; message?: string }[];
    observedGeneration?: number;
  };
};

async function ready(name: string): Promise<boolean> {
  const m = await central.find<Mr>(group, "RemoteConfigMap", name);
  return m?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

before(async () => {
  pb = await providerBed({
    remotes: ["east", "west"],
    remoteTimeoutMs: 5000,
    providerConfig: { requestTimeoutSeconds: 3 },
  });
  bed = pb.bed;
  central = pb.central;
  for (const name of ["east", "west"]) remotes.set(name, pb.remote(name));
  provider = new Provider(central, testLogger(), { ...fastQueue, maxDelayMs: 3000 });
  await provider.start();
});

after(async () => {
  await teardown(
    () => provider.stop(),
    () => pb.close(),
  );
});

test(
  "one cluster down: the other converges, nothing is deleted, all converge after it returns",
  { timeout: 240_000 },
  async () => {
    for (const cluster of ["east", "west"])
      for (const n of ["a", "b"])
        await central.apply(
          remoteConfigMap(`${cluster}-${n}`, { cluster, remoteName: n, data: { cluster } }),
          fm,
        );
    for (const n of ["east-a", "east-b", "west-a", "west-b"])
      await eventually(`${n} Ready`, async () => ((await ready(n)) ? true : undefined));

    const east = bed.cluster("east");
    await east.stop();

    // Work under way while east is gone.
    for (const cluster of ["east", "west"])
      await central.apply(
        remoteConfigMap(`${cluster}-c`, { cluster, remoteName: "c", data: { cluster } }),
        fm,
      );
    await central.delete(group, "RemoteConfigMap", "east-b");
    await central.delete(group, "RemoteConfigMap", "west-b");
    // An edit east cannot see yet: its status must not claim to describe it.
    await central.apply(
      remoteConfigMap("east-a", {
        cluster: "east",
        remoteName: "a",
        data: { cluster: "east", edited: "yes" },
      }),
      fm,
    );

    await eventually("west converges", async () => {
      const westB = await remotes.get("west")?.find("v1", "ConfigMap", "b", "kafka");
      return (await ready("west-c")) &&
        !westB &&
        !(await central.find(group, "RemoteConfigMap", "west-b"))
        ? true
        : undefined;
    });
    const unreachable = await eventually(
      "east's resources say their cluster is unreachable",
      async () => {
        const m = await central.find<Mr>(group, "RemoteConfigMap", "east-c");
        const synced = m?.status?.conditions?.find((c) => c.type === "Synced");
        return synced?.reason === "ClusterUnreachable" ? synced : undefined;
      },
    );
    assert.match(
      unreachable.message ?? "",
      /cluster east \(https:\/\/127\.0\.0\.1:\d+\) is unreachable/,
    );
    const edited = await eventually(
      "the edited east-a says its cluster is unreachable",
      async () => {
        const m = await central.find<Mr>(group, "RemoteConfigMap", "east-a");
        const synced = m?.status?.conditions?.find((c) => c.type === "Synced");
        return synced?.reason === "ClusterUnreachable" ? m : undefined;
      },
    );
    assert.ok(
      (edited.status?.observedGeneration ?? 0) < (edited.metadata.generation ?? 0),
      `observedGeneration ${String(edited.status?.observedGeneration)} must stay below generation ${String(edited.metadata.generation)}: nothing of the edit was observed`,
    );
    const pending = await central.get<Mr>(group, "RemoteConfigMap", "east-b");
    assert.ok(pending.metadata.deletionTimestamp, "deletion requested");
    assert.ok(
      pending.metadata.finalizers?.includes(finalizer),
      "the finalizer stays until the cluster answers",
    );

    await east.start();
    const eastClient = remotes.get("east");
    assert.ok(eastClient);
    await eventually(
      "east converges after its return",
      async () => {
        const c = await eastClient.find("v1", "ConfigMap", "c", "kafka");
        const b = await eastClient.find("v1", "ConfigMap", "b", "kafka");
        const bMr = await central.find(group, "RemoteConfigMap", "east-b");
        return c && !b && !bMr && (await ready("east-c")) ? true : undefined;
      },
      120,
    );
    await eventually("the edit reaches east and is observed", async () => {
      const a = await eastClient.find<KubeObject & { data?: Record<string, string> }>(
        "v1",
        "ConfigMap",
        "a",
        "kafka",
      );
      const m = await central.find<Mr>(group, "RemoteConfigMap", "east-a");
      return a?.data?.["edited"] === "yes" &&
        m?.status?.observedGeneration === m?.metadata.generation
        ? true
        : undefined;
    });
    // Nothing else was lost on either side.
    assert.ok(await eastClient.find("v1", "ConfigMap", "a", "kafka"));
    assert.ok(await remotes.get("west")?.find("v1", "ConfigMap", "a", "kafka"));
    assert.ok(await ready("east-a"));
  },
);

test(
  "a cluster that will never return can be abandoned explicitly",
  { timeout: 240_000 },
  async () => {
    const east = bed.cluster("east");
    await east.stop();
    await central.delete(group, "RemoteConfigMap", "east-a");
    const held = await eventually("deletion held while east is unreachable", async () => {
      const m = await central.find<Mr>(group, "RemoteConfigMap", "east-a");
      return m?.metadata.deletionTimestamp &&
        m.status?.conditions?.some((c) => c.reason === "ClusterUnreachable")
        ? m
        : undefined;
    });
    assert.ok(held.metadata.finalizers?.includes(finalizer));

    await central.apply(
      {
        apiVersion: group,
        kind: "ProviderConfig",
        metadata: { name: "east", annotations: { "remote.stretchkafka.dev/abandon": "true" } },
      },
      { fieldManager: "operator" },
    );
    await eventually("released", async () =>
      (await central.find(group, "RemoteConfigMap", "east-a")) ? undefined : true,
    );
    const synced = await eventually("the other east resources say so", async () => {
      const m = await central.find<Mr>(group, "RemoteConfigMap", "east-c");
      const c = m?.status?.conditions?.find((x) => x.type === "Synced");
      return c?.reason === "Abandoned" ? c : undefined;
    });
    assert.match(synced.message ?? "", /ProviderConfig east is abandoned/);

    // Abandoning deletes nothing: should the cluster come back, its objects are still there.
    await east.start();
    const eastClient = remotes.get("east");
    assert.ok(eastClient);
    await eventually("east answers again", async () =>
      (await eastClient.find("v1", "ConfigMap", "a", "kafka")) ? true : undefined,
    );
  },
);
