/**
 * `npm run bench:crossplane`: the example 3-cluster claim under real
 * Crossplane core at its defaults, installed from the packages
 * (devbed/crossplane-core.ts), composed both ways: by the shipped Composition
 * (a RemoteObjectSet per remote cluster, 3; docs/adr/0026) and by one asking
 * for a managed resource per remote object (69, the shape composites created
 * before sets were shipped keep). For each, the
 * claim's time from apply to Ready, the watch events its managed resources
 * and composite made (what Crossplane's XR watch circuit breaker counts: its
 * bucket holds 100 and refills 1/s), whether the breaker opened, and, in the
 * same run, the same claim's time to Ready with the standalone engine as the
 * baseline. The breaker's openings and the events it took and dropped are
 * Crossplane's own counters (circuit_breaker_*_total on its /metrics), read
 * before and after. Prints the figures and writes bench-results/crossplane.json.
 * Then a claim's whole life per cluster, its steps back to back, with the
 * breaker's counters after each step.
 * Targets: no circuit-breaker trip at Crossplane's defaults; Ready within
 * 1.5x of the standalone engine's time.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { parse } from "yaml";
import {
  fm as bedFm,
  perObjectComposition,
  perObjectCompositionName,
  prepareBed,
  providerNamespace,
  scaleEastAddSouth,
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
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
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
  compositeChanges: Record<string, number>;
  byKind: Record<string, Record<string, number>>;
  circuitOpened: boolean;
}> {
  await central.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "team-a" } }, fm);
  if (shape === "PerObject") await central.apply(perObjectComposition(), bedFm);
  const claim = parse(
    readFileSync(new URL("../examples/claim-3-clusters.yaml", import.meta.url), "utf8"),
  ) as KubeObject & { spec: Record<string, unknown> };
  if (shape === "PerObject") claim.spec["compositionRef"] = { name: perObjectCompositionName };
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
    compositeChanges: events.compositeChanges(),
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
      ? "Composition asking for one managed resource per remote object"
      : "shipped Composition: one RemoteObjectSet per remote cluster",
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
  log(
    `  the composite's writes by what they changed: ${Object.entries(xp.compositeChanges)
      .sort(([, a], [, b]) => b - a)
      .map(([field, n]) => `${field} ${String(n)}`)
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

/**
 * A claim's whole life per cluster under Crossplane at its defaults, its steps
 * back to back as the shared lifecycle table runs them (create; scale a pool
 * while adding a cluster; a refused edit and its revert; delete and re-create at once),
 * with Crossplane's breaker counters after each step. Target: no opening.
 */
async function life(log: (m: string) => void): Promise<Record<string, unknown>> {
  log("a claim's whole life per cluster at Crossplane's defaults, steps back to back");
  const xb = await crossplaneBed([...remoteNames, "south"]);
  const central = xb.central;
  const steps: { step: string; seconds: number; breaker: BreakerCounts }[] = [];
  let closeEvents = (): void => {};
  try {
    await central.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: "team-a" } }, fm);
    const example = parse(
      readFileSync(new URL("../examples/claim-3-clusters.yaml", import.meta.url), "utf8"),
    ) as KubeObject & {
      spec: {
        compositionRef?: { name: string };
        clusters: {
          name: string;
          providerConfigRef: { name: string };
          nodePools: Record<string, unknown>[];
        }[];
        kafka: { config: Record<string, unknown> };
      };
    };
    const claimOf = (edit: (c: typeof example) => void = () => {}): typeof example => {
      const c = structuredClone(example);
      edit(c);
      return c;
    };
    const scaled = (c: typeof example): void => {
      scaleEastAddSouth(c.spec);
    };
    const find = (): Promise<Claim | undefined> =>
      central.find<Claim>(g, "StretchKafka", "orders", "team-a");
    const until = async (what: string, ok: () => Promise<boolean>): Promise<void> => {
      const t0 = performance.now();
      while (!(await ok())) {
        if (performance.now() - t0 > 600_000) throw new Error(`${what}: not within 10 minutes`);
        await sleep(200);
      }
    };
    const readyAt = async (generation?: number): Promise<boolean> => {
      const c = await find();
      const ready = c?.status?.conditions?.find((x) => x.type === "Ready");
      const synced = c?.status?.conditions?.find((x) => x.type === "Synced");
      return (
        ready?.status === "True" &&
        synced?.status === "True" &&
        (generation === undefined || (c?.metadata.generation ?? 0) >= generation)
      );
    };
    const xrOf = async (): Promise<Claim | undefined> => {
      const name = (await find())?.spec.resourceRef?.name;
      return name ? central.find<Claim>(g, "XStretchKafka", name) : undefined;
    };
    let last = await breakerCounts(xb.core.metricsUrl);
    // What each step's tokens were: the composite's writes by field, the sets' events.
    const events = countEvents(
      () => new DynamicClient(xb.bed.cluster("central").kubeConfig()),
      "orders",
    );
    closeEvents = events.stop;
    const flat = (): Record<string, number> => ({
      "composite (all)": events.composite(),
      ...Object.fromEntries(
        Object.entries(events.compositeChanges()).map(([k, n]) => [`composite ${k}`, n]),
      ),
      ...Object.fromEntries(
        Object.entries(events.configChanges()).map(([k, n]) => [`ProviderConfig ${k}`, n]),
      ),
      ...Object.fromEntries(
        Object.entries(events.byKind()).flatMap(([kind, types]) =>
          Object.entries(types).map(([t, n]) => [`${kind} ${t.toLowerCase()}`, n]),
        ),
      ),
    });
    let lastEvents = flat();
    const step = async (name: string, f: () => Promise<void>): Promise<void> => {
      const t0 = performance.now();
      await f();
      const now = await breakerCounts(xb.core.metricsUrl);
      const b = breakerDelta(last, now);
      last = now;
      const seen = flat();
      const delta = Object.entries(seen)
        .map(([k, n]) => [k, n - (lastEvents[k] ?? 0)] as const)
        .filter(([, n]) => n > 0)
        .sort(([, a], [, b]) => b - a);
      lastEvents = seen;
      steps.push({
        step: name,
        seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
        breaker: b,
      });
      log(
        `  ${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s; breaker ${String(b.opens)} opening(s), ${String(b.allowed)} taken, ${String(b.dropped)} dropped`,
      );
      log(`    watch events: ${delta.map(([k, n]) => `${k} ${String(n)}`).join(", ")}`);
    };
    await step("create", async () => {
      await central.apply(claimOf(), fm);
      await until("Ready", () => readyAt());
    });
    await step("scale a pool and add a cluster", async () => {
      await central.apply(claimOf(scaled), fm);
      const generation = (await find())?.metadata.generation;
      await until("Ready with 11 pods", async () => {
        if (!(await readyAt(generation))) return false;
        const clusters = ((await find())?.status as { clusters?: { ready: boolean }[] } | undefined)
          ?.clusters;
        return clusters?.length === 4 && clusters.every((c) => c.ready);
      });
    });
    await step("a refused edit, then its revert", async () => {
      await central.apply(
        claimOf((c) => {
          scaled(c);
          c.spec.kafka.config["node.id"] = 7;
        }),
        fm,
      );
      await until("refused", async () =>
        Boolean(
          (await xrOf())?.status?.conditions?.some(
            (x) => x.type === "Synced" && x.status === "False" && /node\.id/.test(x.message ?? ""),
          ),
        ),
      );
      await central.apply(claimOf(scaled), fm);
      await until("Synced again", async () =>
        Boolean(
          (await xrOf())?.status?.conditions?.some(
            (x) => x.type === "Synced" && x.status === "True",
          ),
        ),
      );
    });
    await step("delete", async () => {
      await central.delete(g, "StretchKafka", "orders", "team-a");
      await until("gone", async () => !(await find()));
    });
    // At once, as a user would and the shared table does: the new composite
    // waits while the old one's sets are deleted (the function's predecessor
    // requirement), and their changes count against it.
    await step("re-create", async () => {
      await central.apply(claimOf(scaled), fm);
      await until("Ready", async () => {
        if (!(await readyAt())) return false;
        const clusters = ((await find())?.status as { clusters?: { ready: boolean }[] } | undefined)
          ?.clusters;
        return clusters?.length === 4 && clusters.every((c) => c.ready);
      });
    });
  } finally {
    closeEvents();
    await xb.close();
  }
  const opens = steps.reduce((n, s) => n + s.breaker.opens, 0);
  log(
    `  over the whole life: ${String(opens)} opening(s) (target: none: ${opens === 0 ? "met" : "NOT met"})`,
  );
  return { steps, openings: opens };
}

async function main(): Promise<void> {
  const log = (m: string): void => {
    console.log(m);
  };
  // `-- --shipped`: only the shipped Composition's figures (a shorter run while changing them).
  const shippedOnly = process.argv.includes("--shipped");
  const result = {
    ...(shippedOnly ? {} : { perObject: await measure("PerObject", log) }),
    perCluster: await measure("PerCluster", log),
    perClusterLife: await life(log),
  };
  mkdirSync("bench-results", { recursive: true });
  writeFileSync("bench-results/crossplane.json", JSON.stringify(result, null, 2) + "\n");
  log("written to bench-results/crossplane.json");
}

await main();
