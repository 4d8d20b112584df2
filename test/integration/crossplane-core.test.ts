/**
 * stretch-kafka installed and run the Crossplane way, under real Crossplane
 * core v2: the Configuration pulled from a registry, its Function and
 * Provider resolved as dependencies, the function dialled with TLS as
 * Crossplane dials it, the provider as a process. The package runtime is
 * played by the test bed (devbed/crossplane-core.ts). Then the claim's life
 * of the shared table (lifecycle.ts) twice: composed by the shipped
 * Composition (a RemoteObjectSet per remote cluster, ADR 0026) under
 * Crossplane at its defaults, its XR circuit breaker never opening; then, on
 * a second Crossplane, also at its defaults, a claim created by one asking
 * for a managed resource per remote object (the shape composites created
 * before sets were shipped have), and handed over to sets.
 */
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { functionName } from "../../functions/render.ts";
import {
  conditionsOf,
  crossplaneBed,
  crossplaneNamespace,
  type CrossplaneBed,
} from "../../devbed/crossplane-core.ts";
import { eventually } from "../../devbed/eventually.ts";
import {
  fm,
  perObjectComposition,
  perObjectCompositionName,
} from "../../devbed/prepare-clusters.ts";
import { kinds } from "../../controller/provider/kinds.ts";
import { objectSetKind } from "../../controller/provider/object-set.ts";
import { breakerCounts, breakerDelta, type BreakerCounts } from "../../bench/watch-events.ts";
import { claimLifecycle, g, type LifecycleBed } from "./lifecycle.ts";

const clusters = ["east", "west", "north", "south"];
/** Crossplane at its defaults: no flag of core's is changed. */
let xb: CrossplaneBed;
let closed = false;
const closeDefaults = async (): Promise<void> => {
  if (closed) return;
  closed = true;
  await xb.close();
};

/** What each test of the defaults' run took from the breakers (a failure prints them). */
const perTest: string[] = [];
let counted: BreakerCounts | undefined;

before(async () => {
  xb = await crossplaneBed(clusters);
  counted = await breakerCounts(xb.core.metricsUrl);
});

afterEach(async (t) => {
  if (closed || !counted) return;
  // Crossplane answers its metrics throughout this run: a refusal fails the test.
  const now = await breakerCounts(xb.core.metricsUrl);
  const d = breakerDelta(counted, now);
  perTest.push(`${t.name}: ${String(d.allowed)} taken, ${String(d.opens)} opened`);
  counted = now;
});

after(closeDefaults);

describe("installed from packages", () => {
  test("the Configuration's dependencies resolve to the Function the Composition names", async () => {
    assert.match(
      await conditionsOf(xb.central, "pkg.crossplane.io/v1", "Function", functionName),
      /Healthy=True/,
    );
    const revisions = await xb.central.list<{
      apiVersion: string;
      kind: string;
      metadata: { name?: string };
      status?: { endpoint?: string };
    }>("pkg.crossplane.io/v1", "FunctionRevision");
    assert.ok(
      revisions.items.every((r) => r.metadata.name?.startsWith(`${functionName}-`)),
      "the function's revisions belong to the Function the Composition names",
    );
    assert.ok(revisions.items.some((r) => r.status?.endpoint?.startsWith("127.0.0.1:")));
  });
});

claimLifecycle("under real Crossplane at its defaults", "crossplane", (): LifecycleBed => ({
  path: "crossplane",
  central: xb.central,
  remotes: xb.remotes,
  kubeconfigPath: xb.bed.cluster("central").kubeconfigPath,
  providerNamespace: crossplaneNamespace,
}));

describe("what Crossplane saw", () => {
  test("the claim is deleted with everything it composed", { timeout: 300_000 }, async () => {
    await xb.central.delete(g, "StretchKafka", "orders", "team-a");
    await eventually(
      "the claim, its composite, its managed resources and every pod are gone",
      async () => {
        if (await xb.central.find(g, "StretchKafka", "orders", "team-a")) return undefined;
        if ((await xb.central.list(g, "XStretchKafka")).items.length > 0) return undefined;
        for (const k of [...kinds, objectSetKind])
          if ((await xb.central.list(k.apiVersion, k.kind)).items.length > 0) return undefined;
        for (const r of xb.remotes.values())
          if ((await r.list("v1", "Pod", { namespace: "kafka" })).items.length > 0)
            return undefined;
        return true;
      },
      240,
      500,
    );
  });

  test("its XR circuit breaker never opened over the claim's whole life, and counted it", async () => {
    // Crossplane's own counters: a breaker that opened dropped events; one
    // that counted nothing would prove nothing.
    const b = await breakerCounts(xb.core.metricsUrl);
    assert.ok(b.allowed > 0, "the breaker counted the claim's events");
    console.log(`[crossplane-core] breaker tokens per test: ${perTest.join("; ")}`);
    if (b.opens > 0 || b.dropped > 0) {
      // Where it opened, as Crossplane logs it, and what each step took.
      const opened = readFileSync(xb.core.logFile, "utf8")
        .split("\n")
        .filter((l) => l.includes("Circuit breaker is open"))
        .slice(0, 3)
        .map((l) => {
          const o = JSON.parse(l) as { ts?: string; name?: string; "triggered-by"?: string };
          return `${o.ts ?? ""} ${o.name ?? ""} by ${o["triggered-by"] ?? ""}`;
        });
      assert.fail(
        `the breaker opened ${String(b.opens)} time(s) and dropped ${String(b.dropped)} event(s): ${opened.length > 0 ? opened.join("; ") : "Crossplane logged no reconcile of a composite while its breaker was open"}; per test: ${perTest.join("; ")}`,
      );
    }
  });

  test("Crossplane dialled the function with TLS and nothing was refused", () => {
    for (const rev of xb.runtime.started.filter((n) => n.startsWith(functionName))) {
      const log = readFileSync(`${xb.work}/${rev}.log`, "utf8");
      assert.doesNotMatch(log, /caller refused|handshake failed/);
    }
  });
});

describe("a managed resource per remote object", () => {
  // Composites created before sets were shipped have that shape until they
  // are handed over to sets (ADR 0026). Composed per object a claim takes
  // about 270 of the breaker's 100 tokens while it is created (docs/adr/0017):
  // at Crossplane's defaults, as every other run here, the breaker opens and
  // slows it, and it must still get Ready. Its hand-over to sets, after
  // Crossplane is restarted (a composite quiet for long has its breaker
  // closed; one just created has it open for 5 minutes), makes about 480
  // watch events (45 managed resources set to Orphan, then deleted) and opens
  // the breaker once too: the hand-over must still finish, driven by the
  // function's 15 s TTL while it converges. The rest of that shape's life is
  // shown by the engine's per-object run.
  let xo: CrossplaneBed | undefined;
  before(async () => {
    await closeDefaults();
    xo = await crossplaneBed(clusters);
    await xo.central.apply(perObjectComposition(), fm);
  });
  after(async () => {
    await xo?.close();
  });

  claimLifecycle(
    "under real Crossplane, a managed resource per object",
    "crossplane",
    () => {
      assert.ok(xo);
      return {
        path: "crossplane",
        central: xo.central,
        remotes: xo.remotes,
        kubeconfigPath: xo.bed.cluster("central").kubeconfigPath,
        providerNamespace: crossplaneNamespace,
        perObject: { composition: perObjectCompositionName },
        quiet: async () => {
          assert.ok(xo);
          // Created per object at the defaults, its breaker opened: for 5
          // minutes it takes one event every 30 s, and only while events
          // come, where one quiet for long takes the Composition's change at once.
          await xo.core.restart();
          // Its start passes every object it watches through the breakers once: over when none comes for 5 s.
          let last: BreakerCounts | undefined;
          let still = 0;
          await eventually(
            "Crossplane has started and its breakers are quiet",
            async () => {
              // Refused while it starts: not a sample, and the quiet count starts again.
              const now = await breakerCounts(xo?.core.metricsUrl ?? "").catch(() => undefined);
              still =
                now && last && now.allowed === last.allowed && now.allowed > 0 ? still + 1 : 0;
              last = now;
              return still >= 5 ? true : undefined;
            },
            120,
            1000,
          );
        },
      };
    },
    "PerObject",
    "created, then handed over",
  );
});
