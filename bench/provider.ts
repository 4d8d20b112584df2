/**
 * `npm run bench:provider`: 1,000 managed resources over 3 remote clusters
 * (real API servers of the test bed). Measures the time until all are Ready,
 * API requests per managed resource, requests during 60 s of steady state
 * (watch streams are not requests), and resident memory. Prints the figures
 * and writes bench-results/provider.json.
 * Targets: all Ready within 30 s on 2 cores, 0 writes and 0 reads in steady
 * state, under 300 MiB RSS.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { DynamicClient, type KubeObject } from "../controller/kube/dynamic.ts";
import { Metrics } from "../controller/metrics.ts";
import { Provider } from "../controller/provider/provider.ts";
import { defaultQueueOptions } from "../controller/runtime/workqueue.ts";
import { providerBed } from "../devbed/provider-bed.ts";

const total = 1000;
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
  log("starting a central and three remote API servers");
  const pb = await providerBed({ remotes: clusters });
  try {
    const central = pb.central;
    log(`creating ${total} managed resources`);
    const mrs = managedResources();
    for (let i = 0; i < mrs.length; i += 20)
      await Promise.all(mrs.slice(i, i + 20).map((m) => central.apply(m, fm)));

    const metrics = new Metrics();
    const providerCentral = new DynamicClient(pb.bed.cluster("central").kubeConfig(), {
      onRequest: metrics.requestHook("central"),
    });
    const provider = new Provider(
      providerCentral,
      pino({ level: "warn" }),
      defaultQueueOptions,
      "stretch-kafka-system",
      metrics,
    );
    const started = performance.now();
    await provider.start();
    let ready = 0;
    while (ready < total) {
      await sleep(250);
      provider.observeState();
      const gauge = await metrics.managedResources.get();
      ready = gauge.values
        .filter((v) => v.labels.ready === "True")
        .reduce((s, v) => s + v.value, 0);
      if (performance.now() - started > 300_000)
        throw new Error(`only ${ready} of ${total} Ready after 300 s`);
    }
    const allReadySeconds = (performance.now() - started) / 1000;
    await sleep(2000);
    const converge = await metrics.requestCounts();
    log(
      `all ${total} Ready in ${allReadySeconds.toFixed(1)} s; measuring ${steadySeconds} s of steady state`,
    );
    await sleep(steadySeconds * 1000);
    const after = await metrics.requestCounts();
    const rssMiB = process.memoryUsage().rss / 1048576;
    await provider.stop();
    await providerCentral.close();

    const result = {
      mrs: total,
      clusters: clusters.length,
      allReadySeconds: Number(allReadySeconds.toFixed(1)),
      requestsPerMr: Number(((converge.reads + converge.writes) / total).toFixed(2)),
      steadyStateSeconds: steadySeconds,
      steadyStateWrites: after.writes - converge.writes,
      steadyStateReads: after.reads - converge.reads,
      rssMiB: Number(rssMiB.toFixed(0)),
    };
    console.log(JSON.stringify(result, null, 2));
    console.log(
      `targets: all Ready <= 30 s: ${result.allReadySeconds <= 30 ? "met" : "NOT met"}; ` +
        `steady state 0 writes / 0 reads: ${result.steadyStateWrites === 0 && result.steadyStateReads === 0 ? "met" : "NOT met"}; ` +
        `RSS < 300 MiB: ${result.rssMiB < 300 ? "met" : "NOT met"}`,
    );
    mkdirSync("bench-results", { recursive: true });
    writeFileSync("bench-results/provider.json", JSON.stringify(result, null, 2) + "\n");
    console.log("written to bench-results/provider.json");
  } finally {
    await pb.close();
  }
}

await main();
