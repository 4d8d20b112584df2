/**
 * `stretch-kafka controller` in its own process, as it is deployed: it takes
 * its Lease, serves /readyz and /metrics, turns a claim into Ready status in
 * two remote clusters (Strimzi played by the test), and stops cleanly on
 * SIGTERM.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { DynamicClient, type KubeObject } from "../../controller/kube/dynamic.ts";
import { prepareBed } from "../../devbed/prepare-clusters.ts";
import { playStrimzi } from "../../devbed/strimzi-player.ts";
import type { StrimziPlayer } from "../../devbed/strimzi-player.ts";
import { freePort, startTestBed, type TestBed } from "../../devbed/clusters.ts";
import { eventually } from "../../devbed/eventually.ts";
import { testLogger } from "../../devbed/provider-bed.ts";
import { teardown } from "../teardown.ts";

const remoteNames = ["east", "west"];
const cli = fileURLToPath(new URL("../../controller/cli/main.ts", import.meta.url));
const claimFile = new URL("../../examples/claim-2-clusters.yaml", import.meta.url);

let bed: TestBed;
let central: DynamicClient;
let players: StrimziPlayer[] = [];
let controller: ChildProcess | undefined;
const remotes = new Map<string, DynamicClient>();

before(async () => {
  bed = await startTestBed({ names: ["central", ...remoteNames] });
  await prepareBed(bed, remoteNames, { targetNamespace: "kafka", report: () => {} });
  central = new DynamicClient(bed.cluster("central").kubeConfig());
  for (const n of remoteNames) remotes.set(n, new DynamicClient(bed.cluster(n).kubeConfig()));
  players = playStrimzi(remotes, "kafka", testLogger());
});

after(async () => {
  controller?.kill("SIGKILL");
  await teardown(
    () => Promise.all(players.map((p) => p.stop())),
    async () => {
      for (const r of remotes.values()) await r.close();
    },
    () => central.close(),
    () => bed.close(),
  );
});

test(
  "the controller command composes a claim to Ready and stops on SIGTERM",
  // Above the sum of the waits below, so a slow step fails naming itself.
  { timeout: 420_000 },
  async () => {
    const port = await freePort();
    const proc = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        cli,
        "controller",
        "--kubeconfig",
        bed.cluster("central").kubeconfigPath,
        "--http-address",
        `127.0.0.1:${String(port)}`,
        "--concurrency",
        "4",
        "--log-level",
        "warn",
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    controller = proc;
    const lease = await eventually("the controller holds its Lease", async () => {
      const l = await central.find<KubeObject & { spec?: { holderIdentity?: string } }>(
        "coordination.k8s.io/v1",
        "Lease",
        "stretch-kafka-controller",
        "stretch-kafka-system",
      );
      return l?.spec?.holderIdentity;
    });
    assert.ok(lease.includes(String(proc.pid)));
    await eventually("ready", async () =>
      (await fetch(`http://127.0.0.1:${String(port)}/readyz`)).status === 200 ? true : undefined,
    );

    await central.apply(
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "team-a" } },
      { fieldManager: "test" },
    );
    await central.apply(parse(readFileSync(claimFile, "utf8")) as KubeObject, {
      fieldManager: "test",
    });
    await eventually(
      "the claim is Ready",
      async () => {
        const c = await central.find<
          KubeObject & { status?: { conditions?: { type: string; status: string }[] } }
        >("stretchkafka.dev/v1alpha1", "StretchKafka", "payments", "team-a");
        return c?.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True")
          ? true
          : undefined;
      },
      180,
      250,
    );
    const metrics = await (
      await fetch(`http://127.0.0.1:${String(port)}/metrics`, {
        signal: AbortSignal.timeout(30_000),
      })
    ).text();
    assert.match(
      metrics,
      // The shipped Composition composes one RemoteObjectSet per remote cluster.
      /stretchkafka_reconcile_total\{kind="RemoteObjectSet",outcome="success"\} [1-9]/,
    );

    const exited = new Promise<number | null>((resolve) => proc.once("exit", resolve));
    proc.kill("SIGTERM");
    // 30 s is Kubernetes' default grace period; a pod still running after it is killed.
    assert.equal(
      await eventually("the controller exits on SIGTERM", () => exited.then((c) => c ?? -1), 30),
      0,
    );
    controller = undefined;
  },
);
