/**
 * Two provider replicas with leader election: exactly one acts; when the
 * leader is killed the other takes the Lease and carries on.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { DynamicClient, type KubeObject } from "../../controller/kube/dynamic.ts";
import { freePort } from "../../devbed/clusters.ts";
import { eventually } from "../../devbed/eventually.ts";
import {
  fm,
  group,
  providerBed,
  remoteConfigMap,
  spawnProvider,
  type ProviderBed,
} from "../../devbed/provider-bed.ts";

let central: DynamicClient;
let pb: ProviderBed;
const replicas: { process: ChildProcess; port: number }[] = [];

async function reconciles(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith("stretchkafka_reconcile_total{"))
    .reduce((s, l) => s + Number(l.split(" ").pop()), 0);
}

async function isReady(name: string): Promise<true | undefined> {
  const m = await central.find<
    KubeObject & { status?: { conditions?: { type: string; status: string }[] } }
  >(group, "RemoteConfigMap", name);
  return m?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
    ? true
    : undefined;
}

async function holder(): Promise<string | undefined> {
  const lease = await central.find<KubeObject & { spec?: { holderIdentity?: string } }>(
    "coordination.k8s.io/v1",
    "Lease",
    "stretch-kafka-provider",
    "stretch-kafka-system",
  );
  return lease?.spec?.holderIdentity;
}

before(async () => {
  pb = await providerBed({ remotes: ["east"] });
  central = pb.central;
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const p = spawnProvider(pb, [
      "--http-address",
      `127.0.0.1:${port}`,
      "--lease-duration-seconds",
      "4",
      "--renew-deadline-seconds",
      "3",
      "--retry-period-seconds",
      "1",
    ]);
    replicas.push({ process: p, port });
  }
});

after(async () => {
  for (const r of replicas) r.process.kill("SIGKILL");
  await pb.close();
});

test(
  "exactly one replica acts; killing it hands over to the other",
  { timeout: 180_000 },
  async () => {
    const first = await eventually("a leader", holder);
    const leader = replicas.find((r) => first.includes(`-${String(r.process.pid)}-`));
    const standby = replicas.find((r) => r !== leader);
    assert.ok(leader && standby, `holder ${first} is one of the replicas`);

    await central.apply(remoteConfigMap("one"), fm);
    await eventually("reconciled by the leader", () => isReady("one"));
    await eventually("standby ready to take over", async () =>
      (await fetch(`http://127.0.0.1:${standby.port}/readyz`)).status === 200 ? true : undefined,
    );
    assert.ok((await reconciles(leader.port)) > 0, "the leader reconciles");
    assert.equal(await reconciles(standby.port), 0, "the standby does nothing");

    const killed = new Promise((r) => leader.process.once("exit", r));
    leader.process.kill("SIGKILL");
    await killed;
    await central.apply(remoteConfigMap("two"), fm);
    await eventually("the standby takes the lease", async () => {
      const h = await holder();
      return h && h !== first ? h : undefined;
    });
    await eventually("and reconciles", () => isReady("two"), 60);
    assert.ok((await reconciles(standby.port)) > 0);
  },
);
