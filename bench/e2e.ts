/**
 * `npm run bench:e2e`: 100 claims over 3 remote clusters (real API servers of
 * the test bed), through the whole standalone path (engine, function,
 * provider, remote Strimzi played), then the same under real Crossplane core
 * at its defaults, installed from the packages. For each: the time until all
 * are Ready, each claim's time from apply to Ready (p50/p99), and the time for
 * one more claim to become Ready with the 100 already there; under Crossplane
 * also that claim's managed-resource watch events and whether its composite's
 * watch circuit breaker opened. Prints the figures and writes
 * bench-results/e2e.json.
 * Targets: the new claim Ready within 10 s on the engine; under Crossplane
 * within 1.5x of the engine's time in the same run, with no breaker trip.
 * CLAIMS=N for fewer claims; PATHS=standalone (or crossplane) for one path.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { DynamicClient } from "../controller/kube/dynamic.ts";
import { describeError } from "../controller/kube/errors.ts";
import { prepareBed } from "../devbed/prepare-clusters.ts";
import { startController } from "../controller/cli/controller.ts";
import { playStrimzi } from "../devbed/strimzi-player.ts";
import { defaultQueueOptions } from "../controller/runtime/workqueue.ts";
import { startTestBed } from "../devbed/clusters.ts";
import { crossplaneBed } from "../devbed/crossplane-core.ts";
import { breakerCounts, breakerDelta, countEvents, type BreakerCounts } from "./watch-events.ts";
import {
  applyAndWait,
  claim,
  countManaged,
  fm,
  percentile,
  quiet,
  type Measured,
} from "./claims.ts";

const claims = Number(process.env["CLAIMS"] ?? 100);
const remoteNames = ["east", "west", "north"];
const namespace = "bench";

interface PathResult {
  path: "standalone" | "crossplane";
  claims: number;
  managedResources: number;
  allReadySeconds: number;
  p50ClaimSeconds: number;
  p99ClaimSeconds: number;
  newClaimReadySeconds: number;
  newClaimWatchEvents: number;
  newClaimCircuitOpened: boolean;
  /** Seconds from the one more claim's apply to each step first seen (composite, managed resources, Ready). */
  newClaimPhases: Record<string, number>;
  /** Crossplane's own counters (circuit_breaker_*_total): over the whole run, and while the one more claim came up. */
  breaker?: { all: BreakerCounts; newClaim: BreakerCounts };
  rssMiB: number;
}

const log = (m: string): void => {
  console.log(m);
};

/** Applies `claims` claims, then one more; measures as the header says. */
async function load(
  path: PathResult["path"],
  central: DynamicClient,
  client: () => DynamicClient,
  metricsUrl?: string,
): Promise<PathResult> {
  const counters = async (): Promise<BreakerCounts | undefined> =>
    metricsUrl ? breakerCounts(metricsUrl) : undefined;
  const atStart = await counters();
  await central.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }, fm);
  const measure = (names: string[]): Promise<Measured> =>
    applyAndWait(
      central,
      namespace,
      names.map((n) => claim(n, namespace, remoteNames)),
      log,
    ).catch((err: unknown) => {
      throw new Error(`${path}: ${describeError(err)}`);
    });

  const names = Array.from({ length: claims }, (_, i) => `k${String(i).padStart(3, "0")}`);
  log(`${path}: applying ${String(claims)} claims (3 remote clusters, one dual-role node in each)`);
  const t0 = performance.now();
  const { ready: perClaim } = await measure(names);
  const allReadySeconds = (performance.now() - t0) / 1000;
  // The fleet in place is a settled one, as an operator's cluster would be:
  // the composer's last passes after Ready are not the newcomer's to wait for.
  const settled = await quiet(central, 15, 600);
  log(`${path}: settled ${String(settled)} s after the last Ready (nothing written for 15 s)`);
  log(`${path}: one more claim, with the others in place`);
  const events = countEvents(client, "newcomer");
  await sleep(500);
  const beforeOne = await counters();
  const one = await measure(["newcomer"]);
  await sleep(10_000); // what the last writes still bring
  events.stop();
  const atEnd = await counters();
  const sorted = [...perClaim.values()].sort((a, b) => a - b);
  return {
    path,
    claims,
    managedResources: await countManaged(central),
    allReadySeconds: Number(allReadySeconds.toFixed(1)),
    p50ClaimSeconds: Number(percentile(sorted, 50).toFixed(1)),
    p99ClaimSeconds: Number(percentile(sorted, 99).toFixed(1)),
    newClaimReadySeconds: Number((one.ready.get("newcomer") ?? NaN).toFixed(1)),
    newClaimWatchEvents: events.count(),
    newClaimCircuitOpened: one.circuitOpened,
    newClaimPhases: one.phases,
    ...(atStart && beforeOne && atEnd
      ? {
          breaker: {
            all: breakerDelta(atStart, atEnd),
            newClaim: breakerDelta(beforeOne, atEnd),
          },
        }
      : {}),
    rssMiB: Math.round(process.memoryUsage().rss / 1048576),
  };
}

async function standalone(): Promise<PathResult> {
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
    try {
      return await load(
        "standalone",
        central,
        () => new DynamicClient(bed.cluster("central").kubeConfig()),
      );
    } finally {
      await Promise.all(players.map((p) => p.stop()));
      await controller.stop();
    }
  } finally {
    for (const r of remotes.values()) await r.close();
    await central.close();
    await bed.close();
  }
}

async function crossplane(): Promise<PathResult> {
  const xb = await crossplaneBed(remoteNames);
  try {
    return await load(
      "crossplane",
      xb.central,
      () => new DynamicClient(xb.bed.cluster("central").kubeConfig()),
      xb.core.metricsUrl,
    );
  } finally {
    await xb.close();
  }
}

function report(r: PathResult): void {
  log(`\n${r.path}: claims Ready: ${String(r.claims)} in ${String(r.allReadySeconds)} s`);
  log(
    `  per claim, apply to Ready: p50 ${String(r.p50ClaimSeconds)} s, p99 ${String(r.p99ClaimSeconds)} s`,
  );
  log(
    `  one new claim with ${String(r.claims)} in place: ${String(r.newClaimReadySeconds)} s, ${String(r.newClaimWatchEvents)} managed-resource watch events, circuit breaker ${r.newClaimCircuitOpened || (r.breaker?.newClaim.opens ?? 0) > 0 ? "OPENED" : "closed"} (its condition and Crossplane's counters)`,
  );
  log(
    `  its way: ${Object.entries(r.newClaimPhases)
      .map(([k, v]) => `${k} at ${String(v)} s`)
      .join(", ")}, claim Ready at ${String(r.newClaimReadySeconds)} s`,
  );
  if (r.breaker) {
    const { all, newClaim } = r.breaker;
    log(
      `  Crossplane's breaker counters: ${String(all.opens)} opening(s), ${String(all.dropped)} events dropped over the run; ${String(newClaim.opens)} and ${String(newClaim.dropped)} while the one more claim came up`,
    );
    log(
      `  while it came up Crossplane ran ${String(newClaim.xrReconciles)} XR reconciles and ${String(newClaim.functionRuns)} function calls; XRs waited ${String(newClaim.xrQueueSeconds)} s in its work queue`,
    );
  }
  log(
    `  managed resources of the main kinds: ${String(r.managedResources)}; bench process RSS ${String(r.rssMiB)} MiB`,
  );
}

async function main(): Promise<void> {
  const paths = (process.env["PATHS"] ?? "standalone,crossplane").split(",");
  const results: PathResult[] = [];
  if (paths.includes("standalone")) results.push(await standalone());
  if (paths.includes("crossplane")) results.push(await crossplane());
  for (const r of results) report(r);
  const base = results.find((r) => r.path === "standalone");
  const xp = results.find((r) => r.path === "crossplane");
  if (base)
    log(
      `\nengine: new claim ${String(base.newClaimReadySeconds)} s (target < 10 s: ${base.newClaimReadySeconds < 10 ? "met" : "NOT met"})`,
    );
  if (base && xp) {
    const ratio = xp.newClaimReadySeconds / base.newClaimReadySeconds;
    log(
      `crossplane: new claim ${ratio.toFixed(2)}x the engine's (target <= 1.5x: ${ratio <= 1.5 ? "met" : "NOT met"}); breaker ${xp.newClaimCircuitOpened || (xp.breaker?.newClaim.opens ?? 0) > 0 ? "OPENED (target: no trip: NOT met)" : "stayed closed (met)"}`,
    );
  }
  mkdirSync("bench-results", { recursive: true });
  writeFileSync("bench-results/e2e.json", JSON.stringify(results, null, 2) + "\n");
  log("written to bench-results/e2e.json");
}

await main();
