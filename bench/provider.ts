/**
 * `npm run bench:provider`: managed resources (1,000 by default, `TOTAL` to
 * change) over 3 remote clusters (real API servers of the test bed), served by
 * the provider run as users run it: the built entry point the image runs, with
 * the image's Node.js flags and environment (`node --max-semi-space-size=4
 * controller/cli/main.js provider`), in a process of its own, as one
 * replica (`--no-leader-elect`: the Lease's renewals, a read and an update
 * every 2 s, would otherwise be all the steady state shows). Measures the time until all are Ready, API requests per
 * managed resource and during 60 s of steady state (from the provider's own
 * /metrics; watch streams are not requests), and the provider process's
 * resident memory and CPU seconds (/proc), apart from this driver's. Prints
 * the figures and writes bench-results/provider.json (provider-TOTAL.json
 * for another size).
 * Targets: all Ready within 30 s on 2 cores at 1,000, 0 writes and 0 reads in
 * steady state, at most 150 MiB resident at 1,000 (600 MiB at 10,000).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeObject } from "../controller/kube/dynamic.ts";
import { freePort, stopProcess } from "../devbed/clusters.ts";
import { buildController } from "../package/build.ts";
import { providerBed } from "../devbed/provider-bed.ts";
import { requestCounts, startCli, usage } from "./processes.ts";
import { sumMetric } from "./watch-events.ts";

const total = Number(process.env["TOTAL"] ?? 1000);
const clusters = ["c1", "c2", "c3"];
const steadySeconds = Number(process.env["STEADY_SECONDS"] ?? 60);
const group = "remote.stretchkafka.dev/v1alpha1";
const fm = { fieldManager: "bench" };
const labels = { "app.kubernetes.io/managed-by": "stretch-kafka" };

function managedResources(): KubeObject[] {
  const out: KubeObject[] = [];
  const perCluster = Math.ceil(total / clusters.length);
  for (const c of clusters) {
    out.push({
      apiVersion: group,
      kind: "RemoteConfigMap",
      metadata: { name: `${c}-anchor` },
      spec: {
        providerConfigRef: { name: c },
        forProvider: {
          manifest: {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "bench-stretch-anchor", namespace: "kafka", labels },
          },
        },
      },
    });
  }
  for (let i = 0; out.length < total; i++) {
    const c = clusters[i % clusters.length] ?? "c1";
    const n = Math.floor(i / clusters.length);
    if (n >= perCluster) continue;
    out.push({
      apiVersion: group,
      kind: "RemoteConfigMap",
      metadata: { name: `${c}-node-${n}` },
      spec: {
        providerConfigRef: { name: c },
        forProvider: {
          manifest: {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: `bench-${n}`, namespace: "kafka", labels },
            data: { "server.config": `node.id=${n}\nbroker.rack=${c}\n` },
          },
          ownerAnchor: { name: "bench-stretch-anchor" },
        },
      },
    });
  }
  return out;
}

async function main(): Promise<void> {
  const log = (m: string): void => {
    console.log(m);
  };
  log("building the controller as the image holds it");
  const work = mkdtempSync(join(tmpdir(), "bench-provider-"));
  const cli = (await buildController(join(work, "app"))).entry;
  log("starting a central and three remote API servers");
  const pb = await providerBed({ remotes: clusters });
  try {
    const central = pb.central;
    log(`creating ${String(total)} managed resources`);
    const mrs = managedResources();
    for (let i = 0; i < mrs.length; i += 20)
      await Promise.all(mrs.slice(i, i + 20).map((m) => central.apply(m, fm)));

    const port = await freePort();
    const started = performance.now();
    const {
      process: provider,
      pid,
      metrics,
    } = startCli(
      cli,
      [
        "provider",
        `--kubeconfig=${pb.bed.cluster("central").kubeconfigPath}`,
        `--http-address=127.0.0.1:${String(port)}`,
        "--namespace=stretch-kafka-system",
        "--log-level=warn",
        "--no-kafka-admin",
        // One replica, so the steady state counts the provider's own requests:
        // with leader election the Lease adds a read and an update every 2 s.
        "--no-leader-elect",
      ],
      port,
      join(work, "provider.log"),
    );
    try {
      let ready = 0;
      let text = "";
      while (ready < total) {
        await sleep(250);
        if (provider.exitCode !== null)
          throw new Error(
            `the provider exited (${String(provider.exitCode)}): see ${work}/provider.log`,
          );
        text = await metrics().catch(() => "");
        ready = sumMetric(text, "stretchkafka_managed_resources", ['ready="True"']);
        if (performance.now() - started > 900_000)
          throw new Error(`only ${String(ready)} of ${String(total)} Ready after 900 s`);
      }
      const allReadySeconds = (performance.now() - started) / 1000;
      await sleep(2000);
      const converge = requestCounts(await metrics());
      const atReady = usage(pid);
      log(
        `all ${String(total)} Ready in ${allReadySeconds.toFixed(1)} s; measuring ${String(steadySeconds)} s of steady state`,
      );
      await sleep(steadySeconds * 1000);
      const after = requestCounts(await metrics());
      const steady = usage(pid);
      const result = {
        mrs: total,
        clusters: clusters.length,
        allReadySeconds: Number(allReadySeconds.toFixed(1)),
        requestsPerMr: Number(((converge.reads + converge.writes) / total).toFixed(2)),
        steadyStateSeconds: steadySeconds,
        steadyStateWrites: after.writes - converge.writes,
        steadyStateReads: after.reads - converge.reads,
        providerRssMiB: Number(steady.rssMiB.toFixed(0)),
        providerRssPerMrKiB: Number(((steady.rssMiB * 1024) / total).toFixed(1)),
        providerCpuSecondsToReady: Number(atReady.cpuSeconds.toFixed(1)),
        providerCpuSecondsSteady: Number((steady.cpuSeconds - atReady.cpuSeconds).toFixed(1)),
        driverRssMiB: Number((process.memoryUsage().rss / 1048576).toFixed(0)),
      };
      console.log(JSON.stringify(result, null, 2));
      const rssTarget = total <= 1000 ? 150 : 600;
      console.log(
        `targets: all Ready <= 30 s: ${total > 1000 ? "(for 1,000)" : result.allReadySeconds <= 30 ? "met" : "NOT met"}; ` +
          `steady state 0 writes / 0 reads: ${result.steadyStateWrites === 0 && result.steadyStateReads === 0 ? "met" : "NOT met"}; ` +
          `provider RSS <= ${String(rssTarget)} MiB: ${result.providerRssMiB <= rssTarget ? "met" : "NOT met"}`,
      );
      mkdirSync("bench-results", { recursive: true });
      const file = total === 1000 ? "provider.json" : `provider-${String(total)}.json`;
      writeFileSync(join("bench-results", file), JSON.stringify(result, null, 2) + "\n");
      console.log(`written to bench-results/${file}`);
    } finally {
      await stopProcess(provider);
    }
  } finally {
    await pb.close();
  }
}

await main();
