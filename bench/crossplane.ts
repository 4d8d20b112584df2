/**
 * `npm run bench:crossplane`: the example 3-cluster claim under real
 * Crossplane core at its defaults, installed from the packages
 * (devbed/crossplane-core.ts), composed both ways: by the default Composition
 * (one managed resource per remote object, 69) and by one asking for a
 * RemoteObjectSet per remote cluster (3; docs/adr/0026). For each, the
 * claim's time from apply to Ready, the watch events its managed resources
 * and composite made (what Crossplane's XR watch circuit breaker counts: its
 * bucket holds 100 and refills 1/s), whether the breaker opened, and, in the
 * same run, the same claim's time to Ready with the standalone engine as the
 * baseline. The breaker's openings and the events it took and dropped are
 * Crossplane's own counters (circuit_breaker_*_total on its /metrics), read
 * before and after. Prints the figures and writes bench-results/crossplane.json.
 * Targets: no circuit-breaker trip at Crossplane's defaults; Ready within
 * 1.5x of the standalone engine's time.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { parse } from "yaml";
import {
  fm as bedFm,
  perClusterComposition,
  perClusterCompositionName,
  prepareBed,
  providerNamespace,
} from "../devbed/prepare-clusters.ts";
import { startController } from "../controller/cli/controller.ts";
import { playStrimzi } from "../devbed/strimzi-player.ts";
import { DynamicClient, type KubeObject } from "../controller/kube/dynamic.ts";
import { startTestBed } from "../devbed/clusters.ts";
import { crossplaneBed } from "../devbed/crossplane-core.ts";
import { breakerCounts, breakerDelta, countEvents, type BreakerCounts } from "./watch-events.ts";

const g = "stretchkafka.dev/v1alpha1";
const fm = { fieldManager: "bench" };
const remoteNames = ["east", "west", "north"];

/** How the claim's remote objects are composed (docs/adr/0026). */
type Shape = "PerObject" | "PerCluster";

interface Claim extends KubeObject {
  spec: { resourceRef?: { name: string }; resourceRefs?: unknown[] };
  status?: { conditions?: { type: string; status: string; reason?: string }[] };
}

/** Applies the example claim; resolves with seconds to Ready, events, and whether the XR's breaker opened. */
async function run(
  central: DynamicClient,
  client: () => DynamicClient,
  shape: Shape,
): Promise<{
  readySeconds: number;
  managedResources: number;
  events: number;
  compositeEvents: number;
  byKind: Record<string, Record<string, number>>;
  circuitOpened: boolean;
}> {
  await central.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "team-a" } }, fm);
  if (shape === "PerCluster") await central.apply(perClusterComposition(), bedFm);
  const claim = parse(
    readFileSync(new URL("../examples/claim-3-clusters.yaml", import.meta.url), "utf8"),
  ) as KubeObject & { spec: Record<string, unknown> };
  if (shape === "PerCluster") claim.spec["compositionRef"] = { name: perClusterCompositionName };
  const events = countEvents(client, "orders");
  await sleep(500);
  const t0 = performance.now();
  await central.apply(claim, fm);
  let circuitOpened = false;
  let managedResources: number;
  for (;;) {
    const c = await central.find<Claim>(g, "StretchKafka", "orders", "team-a");
    const xrName = c?.spec.resourceRef?.name;
    const xr = xrName ? await central.find<Claim>(g, "XStretchKafka", xrName) : undefined;
    if (xr?.status?.conditions?.some((x) => x.reason === "WatchCircuitOpen")) circuitOpened = true;
    managedResources = xr?.spec.resourceRefs?.length ?? 0;
    if (c?.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True")) break;
    if (performance.now() - t0 > 600_000)
      throw new Error("the claim was not Ready within 10 minutes");
    await sleep(200);
  }
  const readySeconds = (performance.now() - t0) / 1000;
  await sleep(10_000); // what the last writes still bring
  events.stop();
  for (const e of events.errors()) console.log(`  (a counting watch ended early: ${e})`);
  return {
    readySeconds: Number(readySeconds.toFixed(1)),
    managedResources,
    events: events.count(),
    compositeEvents: events.composite(),
    byKind: events.byKind(),
    circuitOpened,
  };
}

async function standalone(shape: Shape): Promise<{ readySeconds: number; events: number }> {
  const bed = await startTestBed({ names: ["central", ...remoteNames] });
  const central = new DynamicClient(bed.cluster("central").kubeConfig());
  const remotes = new Map(
    remoteNames.map((n) => [n, new DynamicClient(bed.cluster(n).kubeConfig())]),
  );
  const quiet = pino({ level: "error" });
  try {
    await prepareBed(bed, remoteNames, { targetNamespace: "kafka", report: () => {} });
    const controller = await startController(central, quiet, { namespace: providerNamespace });
    const players = playStrimzi(remotes, "kafka", quiet);
    const r = await run(
      central,
      () => new DynamicClient(bed.cluster("central").kubeConfig()),
      shape,
    );
    await Promise.all(players.map((p) => p.stop()));
    await controller.stop();
    return { readySeconds: r.readySeconds, events: r.events };
  } finally {
    for (const r of remotes.values()) await r.close();
    await central.close();
    await bed.close();
  }
}

/** One shape: the engine's baseline, then real Crossplane core at its defaults. */
async function measure(shape: Shape, log: (m: string) => void): Promise<Record<string, unknown>> {
  log(
    shape === "PerObject"
      ? "default Composition: one managed resource per remote object"
      : "Composition asking for one RemoteObjectSet per remote cluster",
  );
  const base = await standalone(shape);
  log(
    `  standalone engine (baseline): Ready in ${String(base.readySeconds)} s, ${String(base.events)} managed-resource watch events`,
  );
  const xb = await crossplaneBed(remoteNames);
  let xp: Awaited<ReturnType<typeof run>>;
  let breaker: BreakerCounts;
  try {
    const before = await breakerCounts(xb.core.metricsUrl);
    xp = await run(
      xb.central,
      () => new DynamicClient(xb.bed.cluster("central").kubeConfig()),
      shape,
    );
    breaker = breakerDelta(before, await breakerCounts(xb.core.metricsUrl));
  } finally {
    await xb.close();
  }
  const ratio = xp.readySeconds / base.readySeconds;
  const opened = xp.circuitOpened || breaker.opens > 0;
  log(
    `  Crossplane at its defaults: Ready in ${String(xp.readySeconds)} s (${ratio.toFixed(2)}x the engine; target <= 1.5x: ${ratio <= 1.5 ? "met" : "NOT met"}), ${String(xp.managedResources)} managed resources`,
  );
  log(
    `  ${String(xp.events)} managed-resource and ${String(xp.compositeEvents)} composite watch events; circuit breaker ${opened ? "OPENED (target: no trip: NOT met)" : "stayed closed (met)"}`,
  );
  log(
    `  Crossplane's breaker counters: ${String(breaker.opens)} opening(s), ${String(breaker.allowed)} events taken, ${String(breaker.dropped)} dropped`,
  );
  log(
    `  watch events by kind: ${Object.entries(xp.byKind)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(
        ([kind, types]) =>
          `${kind} ${Object.entries(types)
            .map(([t, n]) => `${t.toLowerCase()} ${String(n)}`)
            .join("/")}`,
      )
      .join(", ")}`,
  );
  return {
    managedResources: xp.managedResources,
    standaloneReadySeconds: base.readySeconds,
    crossplaneReadySeconds: xp.readySeconds,
    ratio: Number(ratio.toFixed(2)),
    watchEventsPerClaim: xp.events,
    compositeWatchEvents: xp.compositeEvents,
    watchEventsByKind: xp.byKind,
    circuitBreakerOpened: opened,
    circuitBreaker: breaker,
  };
}

async function main(): Promise<void> {
  const log = (m: string): void => {
    console.log(m);
  };
  const result = {
    perObject: await measure("PerObject", log),
    perCluster: await measure("PerCluster", log),
  };
  mkdirSync("bench-results", { recursive: true });
  writeFileSync("bench-results/crossplane.json", JSON.stringify(result, null, 2) + "\n");
  log("written to bench-results/crossplane.json");
}

await main();
