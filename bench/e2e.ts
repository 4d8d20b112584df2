/**
 * `npm run bench:e2e`: 100 claims over 3 remote clusters (real API servers of
 * the test bed), through the whole standalone path: engine, function,
 * provider, remote Strimzi played. Measures the time until all are Ready,
 * each claim's time from apply to Ready (p50/p99), and the time for one more
 * claim to become Ready with the 100 already there. Prints the figures and
 * writes bench-results/e2e.json.
 * Target: the new claim Ready within 10 s.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { DynamicClient, type KubeObject } from "../controller/kube/dynamic.ts";
import { prepareBed } from "../devbed/sandbox.ts";
import { startController } from "../controller/cli/stack.ts";
import { playStrimzi } from "../devbed/strimzi-player.ts";
import { defaultQueueOptions } from "../controller/runtime/workqueue.ts";
import { startTestBed } from "../devbed/clusters.ts";

const claims = Number(process.env["CLAIMS"] ?? 100);
const remoteNames = ["east", "west", "north"];
const namespace = "bench";
const g = "stretchkafka.dev/v1alpha1";
const fm = { fieldManager: "bench" };

interface Claim extends KubeObject {
  status?: { conditions?: { type: string; status: string }[] };
}

/** The smallest claim that survives losing a cluster: one dual-role node in each of three. */
function claim(name: string): KubeObject {
  return {
    apiVersion: g,
    kind: "StretchKafka",
    metadata: { name, namespace },
    spec: {
      kafka: { version: "4.1.0" },
      networking: { provider: "mcs" },
      clusters: remoteNames.map((c) => ({
        name: c,
        providerConfigRef: { name: c },
        nodePools: [{ name: "nodes", roles: ["controller", "broker"], replicas: 1 }],
      })),
      writeConnectionSecretToRef: { name: `${name}-kafka` },
    },
  };
}

const isReady = (c: Claim): boolean =>
  c.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True") ?? false;

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)] ?? NaN;
}

async function main(): Promise<void> {
  const log = (m: string): void => {
    console.log(m);
  };
  const bed = await startTestBed({ names: ["central", ...remoteNames], log });
  const central = new DynamicClient(bed.cluster("central").kubeConfig());
  const remotes = new Map(
    remoteNames.map((n) => [n, new DynamicClient(bed.cluster(n).kubeConfig())]),
  );
  const quiet = pino({ level: process.env["LOG_LEVEL"] ?? "error" });
  try {
    await prepareBed(bed, remoteNames, { targetNamespace: "kafka", report: () => {} });
    const controller = await startController(central, quiet, {
      namespace: "stretch-kafka-system",
      queue: defaultQueueOptions,
    });
    const players = playStrimzi(remotes, "kafka", quiet);
    await central.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }, fm);

    /** Applies claims and resolves with each one's seconds from apply to Ready. */
    const measure = async (names: string[]): Promise<Map<string, number>> => {
      const applied = new Map<string, number>();
      const ready = new Map<string, number>();
      for (const n of names) {
        await central.apply(claim(n), fm);
        applied.set(n, performance.now());
      }
      let lastReport = 0;
      while (ready.size < names.length) {
        const list = await central.list<Claim>(g, "StretchKafka", { namespace });
        const now = performance.now();
        for (const c of list.items) {
          const n = c.metadata.name ?? "";
          const at = applied.get(n);
          if (at !== undefined && !ready.has(n) && isReady(c)) ready.set(n, (now - at) / 1000);
        }
        if (now - lastReport > 5000) {
          log(`  ${String(ready.size)}/${String(names.length)} Ready`);
          lastReport = now;
        }
        await sleep(200);
      }
      return ready;
    };

    const names = Array.from({ length: claims }, (_, i) => `k${String(i).padStart(3, "0")}`);
    log(`applying ${String(claims)} claims (3 remote clusters, one dual-role node in each)`);
    const t0 = performance.now();
    const perClaim = await measure(names);
    const allReadySeconds = (performance.now() - t0) / 1000;
    // Let the first wave settle before the single claim, as an operator's cluster would be.
    await sleep(5000);
    log("one more claim, with the others in place");
    const one = await measure(["newcomer"]);
    const sorted = [...perClaim.values()].sort((a, b) => a - b);
    const result = {
      claims,
      remoteClusters: remoteNames.length,
      managedResources: (
        await Promise.all(
          ["RemoteConfigMap", "RemoteSecret", "RemoteStrimziPodSet", "RemoteService"].map(
            async (k) => (await central.list("remote.stretchkafka.dev/v1alpha1", k)).items.length,
          ),
        )
      ).reduce((a, b) => a + b, 0),
      allReadySeconds: Number(allReadySeconds.toFixed(1)),
      p50ClaimSeconds: Number(percentile(sorted, 50).toFixed(1)),
      p99ClaimSeconds: Number(percentile(sorted, 99).toFixed(1)),
      newClaimReadySeconds: Number((one.get("newcomer") ?? NaN).toFixed(1)),
      rssMiB: Math.round(process.memoryUsage().rss / 1048576),
    };
    log(`\nclaims Ready: ${String(result.claims)} in ${String(result.allReadySeconds)} s`);
    log(
      `per claim, apply to Ready: p50 ${String(result.p50ClaimSeconds)} s, p99 ${String(result.p99ClaimSeconds)} s`,
    );
    log(
      `one new claim with ${String(claims)} in place: ${String(result.newClaimReadySeconds)} s (target < 10 s: ${result.newClaimReadySeconds < 10 ? "met" : "NOT met"})`,
    );
    log(
      `managed resources of the main kinds: ${String(result.managedResources)}; controller+bench RSS ${String(result.rssMiB)} MiB`,
    );
    mkdirSync("bench-results", { recursive: true });
    writeFileSync("bench-results/e2e.json", JSON.stringify(result, null, 2) + "\n");
    log("written to bench-results/e2e.json");
    await Promise.all(players.map((p) => p.stop()));
    await controller.stop();
  } finally {
    for (const r of remotes.values()) await r.close();
    await central.close();
    await bed.close();
  }
}

await main();
