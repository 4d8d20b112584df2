/**
 * `npm run bench:fleet`: a platform team's fleet on one controller. 300
 * claims (`CLAIMS`) over 6 remote clusters (real API servers of the test bed;
 * each claim on 3 of them, one dual-role node in each, Strimzi played) on the
 * standalone engine, run as users run it: the built CLI's `controller` in
 * processes of its own, two replicas with leader election. Measures:
 *
 * - the time until all are Ready, and one more claim's with the fleet in place;
 * - 60 s of steady state: the leader's requests (central and remote; its
 *   Lease renewals are a read and a write every 2 s), the central API
 *   server's requests by resource (its own apiserver_request_total), the
 *   leader's and the standby's resident memory and CPU seconds;
 * - the leader killed (SIGKILL): when the standby holds the Lease and is
 *   ready, the writes it made taking over, and that nothing was recreated:
 *   the uids of every managed resource and of every remote object the
 *   claims own (pods included) are the same afterwards.
 *
 * Prints the figures and writes bench-results/fleet.json.
 * Targets: one more claim Ready within 10 s; steady state 0 writes and no
 * polling but the Lease's; the standby leads within the Lease's duration (15
 * s) plus its retry period, nothing recreated, no pod restarted.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { pino } from "pino";
import { labels } from "../apis/index.ts";
import { DynamicClient, type KubeObject } from "../controller/kube/dynamic.ts";
import { describeError } from "../controller/kube/errors.ts";
import { freePort, startTestBed, stopProcess, type TestBed } from "../devbed/clusters.ts";
import { prepareBed } from "../devbed/prepare-clusters.ts";
import { playStrimzi } from "../devbed/strimzi-player.ts";
import { buildController } from "../package/build.ts";
import {
  applyAndWait,
  claim,
  claimGroup,
  countManaged,
  fm,
  mainKinds,
  percentile,
  quiet,
  remoteGroup,
} from "./claims.ts";
import { requestCounts, requestsByVerb, startCli, usage } from "./processes.ts";
import { sumMetric } from "./watch-events.ts";

const claims = Number(process.env["CLAIMS"] ?? 300);
const steadySeconds = Number(process.env["STEADY_SECONDS"] ?? 60);
const remoteNames = ["r1", "r2", "r3", "r4", "r5", "r6"];
const namespace = "fleet";
const controllerNamespace = "stretch-kafka-system";
const leaseName = "stretch-kafka-controller";
const leaseDurationSeconds = 15;
/** The remote objects a claim owns, in its target namespace: what must survive a takeover. */
const remoteKinds: [string, string][] = [
  ["v1", "Pod"],
  ["v1", "ConfigMap"],
  ["v1", "Secret"],
  ["v1", "Service"],
  ["core.strimzi.io/v1", "StrimziPodSet"],
  ["kafka.strimzi.io/v1", "Kafka"],
];

const log = (m: string): void => {
  console.log(m);
};

/** Claim i runs on three of the six clusters, every other one from its own start: the fleet spreads evenly. */
function clustersOf(i: number): string[] {
  return [0, 2, 4].map((k) => remoteNames[(i + k) % remoteNames.length] ?? "r1");
}

/**
 * uid and resourceVersion by where/kind/name of every claim, composite,
 * connection Secret and managed resource centrally and every object of the
 * claims remotely.
 */
async function identities(
  central: DynamicClient,
  remotes: Map<string, DynamicClient>,
): Promise<Map<string, { uid: string; version: string }>> {
  const out = new Map<string, { uid: string; version: string }>();
  const add = (where: string, kind: string, items: KubeObject[]): void => {
    for (const o of items)
      out.set(`${where}/${kind}/${o.metadata.name ?? ""}`, {
        uid: o.metadata.uid ?? "",
        version: o.metadata.resourceVersion ?? "",
      });
  };
  add(
    "central",
    "XStretchKafka",
    (await central.list(claimGroup, "XStretchKafka", { metadataOnly: true })).items,
  );
  add(
    "central",
    "StretchKafka",
    (await central.list(claimGroup, "StretchKafka", { namespace, metadataOnly: true })).items,
  );
  // The connection Secrets the engine writes (the claims' and the composites').
  add(
    "central",
    "Secret",
    (
      await central.list("v1", "Secret", {
        labelSelector: labels.connectionSecret,
        metadataOnly: true,
      })
    ).items,
  );
  for (const k of [...mainKinds, "RemoteKafka"])
    add("central", k, (await central.list(remoteGroup, k, { metadataOnly: true })).items);
  for (const [name, r] of remotes)
    for (const [apiVersion, kind] of remoteKinds)
      add(
        name,
        kind,
        (await r.list(apiVersion, kind, { namespace: "kafka", metadataOnly: true })).items,
      );
  return out;
}

/** The central API server's requests (watches left out) by resource, from its own /metrics. */
async function apiserverRequests(bed: TestBed): Promise<Map<string, number>> {
  const { stdout } = await promisify(execFile)(
    "kubectl",
    ["--kubeconfig", bed.cluster("central").kubeconfigPath, "get", "--raw", "/metrics"],
    { maxBuffer: 64 * 1048576 },
  );
  const by = new Map<string, number>();
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("apiserver_request_total{") || line.includes('verb="WATCH"')) continue;
    const resource = /resource="([^"]*)"/.exec(line)?.[1] || "(other)";
    by.set(resource, (by.get(resource) ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1)));
  }
  return by;
}

interface Lease extends KubeObject {
  spec?: { holderIdentity?: string };
}

/** The pid in the Lease's holder identity (hostname-pid-random), or 0 when none holds it. */
async function leaderPid(central: DynamicClient): Promise<number> {
  const lease = await central.find<Lease>(
    "coordination.k8s.io/v1",
    "Lease",
    leaseName,
    controllerNamespace,
  );
  return Number(/-(\d+)-[0-9a-f]+$/.exec(lease?.spec?.holderIdentity ?? "")?.[1] ?? 0);
}

async function until<T>(
  what: string,
  seconds: number,
  f: () => Promise<T | undefined>,
): Promise<T> {
  const t0 = performance.now();
  // A look that fails (a replica's /metrics not up yet, a killed one's gone)
  // is looked at again; the last failure is named if time runs out.
  let failure = "";
  for (;;) {
    const v = await f().catch((err: unknown) => {
      failure = describeError(err);
      return undefined;
    });
    if (v !== undefined) return v;
    if (performance.now() - t0 > seconds * 1000)
      throw new Error(
        `${what}: not within ${String(seconds)} s${failure ? ` (last failure: ${failure})` : ""}`,
      );
    await sleep(100);
  }
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "bench-fleet-"));
  log("building the controller as the image holds it");
  const cli = (await buildController(join(work, "app"))).entry;
  log(`starting a central and ${String(remoteNames.length)} remote API servers`);
  const bed = await startTestBed({ names: ["central", ...remoteNames], log });
  const central = new DynamicClient(bed.cluster("central").kubeConfig());
  const remotes = new Map(
    remoteNames.map((n) => [n, new DynamicClient(bed.cluster(n).kubeConfig())]),
  );
  const quietLog = pino({ level: process.env["LOG_LEVEL"] ?? "error" });
  const replicas: ReturnType<typeof startCli>[] = [];
  const players = playStrimzi(remotes, "kafka", quietLog);
  try {
    await prepareBed(bed, remoteNames, { targetNamespace: "kafka", report: () => {} });
    await central.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }, fm);
    const replica = async (name: string): Promise<ReturnType<typeof startCli>> => {
      const port = await freePort();
      const r = startCli(
        cli,
        [
          "controller",
          `--kubeconfig=${bed.cluster("central").kubeconfigPath}`,
          `--http-address=127.0.0.1:${String(port)}`,
          `--namespace=${controllerNamespace}`,
          "--log-level=warn",
          // No Kafka runs in this bed: the players stand in for Strimzi and the kubelet.
          "--no-kafka-admin",
          `--lease-duration-seconds=${String(leaseDurationSeconds)}`,
        ],
        port,
        join(work, `${name}.log`),
      );
      replicas.push(r);
      return r;
    };
    const first = await replica("controller-a");
    await until("the first replica leads", 60, async () =>
      (await leaderPid(central)) === first.pid ? true : undefined,
    );
    const standby = await replica("controller-b");

    log(`applying ${String(claims)} claims (each on 3 of ${String(remoteNames.length)} clusters)`);
    const names = Array.from({ length: claims }, (_, i) => `k${String(i).padStart(3, "0")}`);
    const t0 = performance.now();
    const all = await applyAndWait(
      central,
      namespace,
      names.map((n, i) => claim(n, namespace, clustersOf(i))),
      log,
    );
    const allReadySeconds = (performance.now() - t0) / 1000;
    const afterAll = usage(first.pid);
    const settled = await quiet(central, 15, 900);
    log(`all Ready in ${allReadySeconds.toFixed(0)} s; settled ${String(settled)} s later`);

    log("one more claim, with the fleet in place");
    const one = await applyAndWait(
      central,
      namespace,
      [claim("newcomer", namespace, clustersOf(claims))],
      log,
    );
    await quiet(central, 15, 300);

    log(`${String(steadySeconds)} s of steady state`);
    const leaderBefore = requestCounts(await first.metrics());
    const apiBefore = await apiserverRequests(bed);
    const cpuBefore = usage(first.pid).cpuSeconds;
    await sleep(steadySeconds * 1000);
    const leaderAfter = requestCounts(await first.metrics());
    const apiAfter = await apiserverRequests(bed);
    const leaderUsage = usage(first.pid);
    const standbyUsage = usage(standby.pid);
    const apiDelta = Object.fromEntries(
      [...apiAfter]
        .map(([r, n]) => [r, n - (apiBefore.get(r) ?? 0)] as const)
        .filter(([, n]) => n > 0)
        .sort((a, b) => b[1] - a[1]),
    );

    log("killing the leader (SIGKILL)");
    const before = await identities(central, remotes);
    const readyMrs = async (r: ReturnType<typeof startCli>): Promise<number> =>
      sumMetric(await r.metrics(), "stretchkafka_managed_resources", ['ready="True"']);
    const readyBefore = await readyMrs(first);
    const standbyBefore = requestsByVerb(await standby.metrics());
    const killedAt = performance.now();
    first.process.kill("SIGKILL");
    await until("the standby leads", leaseDurationSeconds * 4, async () =>
      (await leaderPid(central)) === standby.pid ? true : undefined,
    );
    const leadsSeconds = (performance.now() - killedAt) / 1000;
    await until("the standby sees every managed resource Ready", 600, async () =>
      (await readyMrs(standby)) >= readyBefore ? true : undefined,
    );
    const readySeconds = (performance.now() - killedAt) / 1000;
    await quiet(central, 15, 300);
    const after = await identities(central, remotes);
    const changed = [...before].filter(([k, o]) => after.get(k)?.uid !== o.uid).map(([k]) => k);
    // Written while the standby took over (same object, new resourceVersion), by where and kind.
    const rewritten: Record<string, number> = {};
    for (const [k, o] of before) {
      const now = after.get(k);
      if (now?.uid !== o.uid || now.version === o.version) continue;
      const where = k.split("/").slice(0, 2).join("/");
      rewritten[where] = (rewritten[where] ?? 0) + 1;
    }
    const standbyAfter = requestsByVerb(await standby.metrics());
    const takeoverRequests = Object.fromEntries(
      Object.entries(standbyAfter)
        .map(([k, n]) => [k, n - (standbyBefore[k] ?? 0)] as const)
        .filter(([, n]) => n > 0),
    );

    const sorted = [...all.ready.values()].sort((a, b) => a - b);
    const result = {
      claims,
      clusters: remoteNames.length,
      managedResources: await countManaged(central),
      allReadySeconds: Number(allReadySeconds.toFixed(1)),
      p50ClaimSeconds: Number(percentile(sorted, 50).toFixed(1)),
      p99ClaimSeconds: Number(percentile(sorted, 99).toFixed(1)),
      newClaimReadySeconds: Number((one.ready.get("newcomer") ?? NaN).toFixed(1)),
      steadyStateSeconds: steadySeconds,
      leaderReadsPerMinute: ((leaderAfter.reads - leaderBefore.reads) * 60) / steadySeconds,
      leaderWritesPerMinute: ((leaderAfter.writes - leaderBefore.writes) * 60) / steadySeconds,
      centralApiserverRequestsPerMinute: Object.fromEntries(
        Object.entries(apiDelta).map(([r, n]) => [r, (n * 60) / steadySeconds]),
      ),
      leaderRssMiB: Math.round(leaderUsage.rssMiB),
      leaderCpuSecondsToAllReady: Number(afterAll.cpuSeconds.toFixed(1)),
      leaderCpuSecondsSteady: Number((leaderUsage.cpuSeconds - cpuBefore).toFixed(1)),
      standbyRssMiB: Math.round(standbyUsage.rssMiB),
      takeover: {
        leadsAfterSeconds: Number(leadsSeconds.toFixed(1)),
        allReadyAfterSeconds: Number(readySeconds.toFixed(1)),
        managedResourcesReady: readyBefore,
        requests: takeoverRequests,
        objectsCompared: before.size,
        recreated: changed.length,
        recreatedExamples: changed.slice(0, 5),
        rewritten,
      },
    };
    console.log(JSON.stringify(result, null, 2));
    // The Lease: the leader reads and updates it every retry period (2 s).
    const leaseWritesPerMinute = 30;
    const met = (ok: boolean): string => (ok ? "met" : "NOT met");
    log(
      `targets: one more claim Ready < 10 s: ${met(result.newClaimReadySeconds < 10)}; ` +
        `steady state no writes but the Lease's (${String(result.leaderWritesPerMinute)}/min, the Lease ${String(leaseWritesPerMinute)}): ${met(result.leaderWritesPerMinute <= leaseWritesPerMinute)}; ` +
        `no polling (${String(result.leaderReadsPerMinute)} reads/min, the Lease ${String(leaseWritesPerMinute)}): ${met(result.leaderReadsPerMinute <= leaseWritesPerMinute)}; ` +
        `standby leads within the Lease's ${String(leaseDurationSeconds)} s + 2 s: ${met(result.takeover.leadsAfterSeconds <= leaseDurationSeconds + 2)}; ` +
        `nothing recreated: ${met(result.takeover.recreated === 0)}`,
    );
    mkdirSync("bench-results", { recursive: true });
    writeFileSync("bench-results/fleet.json", JSON.stringify(result, null, 2) + "\n");
  } finally {
    await Promise.all(players.map((p) => p.stop()));
    for (const r of replicas) await stopProcess(r.process);
    for (const r of remotes.values()) await r.close();
    await central.close();
    await bed.close();
  }
}

await main();
