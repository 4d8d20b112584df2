/**
 * The provider killed with SIGKILL in the middle of creating and of deleting 50
 * managed resources: after a restart the remote cluster holds exactly the
 * desired objects, with no orphans and no duplicates.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { DynamicClient, type KubeObject } from "../../controller/kube/dynamic.ts";
import { eventually } from "../../devbed/eventually.ts";
import {
  fm,
  group,
  providerBed,
  remoteConfigMap,
  spawnProvider,
  type ProviderBed,
} from "../../devbed/provider-bed.ts";

const count = 50;
let central: DynamicClient;
let east: DynamicClient;
let pb: ProviderBed;

type Mr = KubeObject & { status?: { conditions?: { type: string; status: string }[] } };

function startProvider(): ChildProcess {
  return spawnProvider(pb, [
    "--concurrency",
    "1",
    "--http-address",
    "127.0.0.1:0",
    // A restarted replica waits for the killed one's Lease to expire.
    "--lease-duration-seconds",
    "3",
    "--renew-deadline-seconds",
    "2",
    "--retry-period-seconds",
    "1",
  ]);
}

async function kill(p: ChildProcess): Promise<void> {
  const exited = new Promise((r) => p.once("exit", r));
  p.kill("SIGKILL");
  await exited;
}

async function remoteNames(): Promise<string[]> {
  const list = await east.list("v1", "ConfigMap", {
    namespace: "kafka",
    labelSelector: "app.kubernetes.io/managed-by=stretch-kafka",
  });
  return list.items.map((o) => o.metadata.name ?? "").sort();
}

const expected = Array.from({ length: count }, (_, i) => `cm-${String(i).padStart(2, "0")}`);

before(async () => {
  pb = await providerBed({ remotes: ["east"] });
  central = pb.central;
  east = pb.remote("east");
});

after(async () => {
  await pb.close();
});

test(
  "SIGKILL while creating and while deleting 50: exactly the desired objects after a restart",
  { timeout: 300_000 },
  async () => {
    for (const name of expected) {
      await central.apply(remoteConfigMap(name, { data: { name } }), fm);
    }

    let provider = startProvider();
    const partial = await eventually("some objects created", async () => {
      const n = (await remoteNames()).length;
      return n >= 5 ? n : undefined;
    });
    await kill(provider);
    const atKill = (await remoteNames()).length;
    assert.ok(
      atKill >= partial && atKill < count,
      `the kill must land mid-way (${atKill} of ${count} created when it landed)`,
    );

    provider = startProvider();
    try {
      await eventually("all created, each Ready", async () => {
        if ((await remoteNames()).join() !== expected.join()) return undefined;
        const mrs = await central.list<Mr>(group, "RemoteConfigMap");
        return mrs.items.every((m) =>
          m.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
        )
          ? true
          : undefined;
      });
      for (const name of expected.slice(0, 3)) {
        const cm = await east.get<KubeObject & { data?: Record<string, string> }>(
          "v1",
          "ConfigMap",
          name,
          "kafka",
        );
        assert.deepEqual(cm.data, { name });
      }

      // Delete them all, and kill the provider in the middle of it.
      for (const name of expected) await central.delete(group, "RemoteConfigMap", name);
      await eventually("some deleted", async () =>
        (await remoteNames()).length <= count - 5 ? true : undefined,
      );
      await kill(provider);
      const left = (await remoteNames()).length;
      assert.ok(left > 0, "the kill must land mid-way through the deletions");
      assert.ok(
        (await central.list(group, "RemoteConfigMap")).items.length > 0,
        "managed resources still waiting on their finalizer",
      );

      provider = startProvider();
      await eventually("all deleted, no orphans", async () => {
        const remaining = await remoteNames();
        const mrs = await central.list(group, "RemoteConfigMap");
        return remaining.length === 0 && mrs.items.length === 0 ? true : undefined;
      });
    } finally {
      await kill(provider);
    }
  },
);
