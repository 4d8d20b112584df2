/** What the benchmarks count of Crossplane's XR watch circuit breaker's input. */
import { setTimeout as sleep } from "node:timers/promises";
import { KubeApiError, type DynamicClient } from "../controller/kube/dynamic.ts";
import { groups, labels } from "../apis/index.ts";
import { kinds } from "../controller/provider/kinds.ts";
import { objectSetKind } from "../controller/provider/object-set.ts";

/**
 * Counts watch events of every managed resource of the claim's Kafka cluster
 * (the function's strimzi.io/cluster label, there under either composer),
 * and of its composite (which the breaker counts too: Crossplane's watch of
 * the XR itself goes through it), until stopped.
 */
export function countEvents(
  kubeconfig: () => DynamicClient,
  claim: string,
): {
  count: () => number;
  composite: () => number;
  compositeChanges: () => Record<string, number>;
  configChanges: () => Record<string, number>;
  byKind: () => Record<string, Record<string, number>>;
  errors: () => string[];
  stop: () => void;
} {
  const ac = new AbortController();
  let n = 0;
  // Events by managed-resource kind and type (ADDED, MODIFIED, DELETED): where the count comes from.
  const kindCounts: Record<string, Record<string, number>> = {};
  let xr = 0;
  const errors: string[] = [];
  // A watch refused before it saw anything (429 while Crossplane has just
  // updated the CRDs: "storage is (re)initializing") is started again; one
  // that ends later is reported, since starting again would count twice.
  const watchKind = async (
    k: { apiVersion: string; kind: string },
    selector: string,
    seenOne: (type: string, object?: Record<string, unknown>) => void,
  ): Promise<void> => {
    for (;;) {
      let seen = 0;
      // One client per watch: a watch holds its connection.
      const client = kubeconfig();
      try {
        await client.watch(k.apiVersion, k.kind, {
          labelSelector: selector,
          resourceVersion: "0",
          timeoutSeconds: 600,
          signal: ac.signal,
          onEvent: (e) => {
            if (e.type === "BOOKMARK") return;
            seen++;
            seenOne(e.type, e.object);
          },
        });
        return;
      } catch (err) {
        if (ac.signal.aborted) return;
        if (seen > 0 || !(err instanceof KubeApiError && err.code === 429)) {
          errors.push(`${k.kind}: ${String(err)}`);
          return;
        }
        await sleep(500);
      } finally {
        void client.close();
      }
    }
  };
  // STRETCH_KAFKA_BENCH_TRACE=1: every event in order, with what it changed (the causal chain).
  const t0 = performance.now();
  const trace = process.env["STRETCH_KAFKA_BENCH_TRACE"] === "1";
  // By kind and name: two kinds may have objects of one name.
  const setBefore = new Map<string, Record<string, unknown>>();
  const traced = (kind: string, type: string, fields: string[]): void => {
    if (trace)
      console.log(
        `    [${((performance.now() - t0) / 1000).toFixed(2)}] ${kind} ${type} ${fields.join(" ")}`,
      );
  };
  for (const k of [...kinds, objectSetKind])
    void watchKind(k, `${labels.cluster}=${claim}`, (type, object) => {
      const name = `${k.kind}/${(object?.["metadata"] as { name?: string } | undefined)?.name ?? ""}`;
      const before = setBefore.get(name);
      traced(name, type, before && object ? leaves(before, object, "") : []);
      if (object) setBefore.set(name, object);
      n++;
      const c = (kindCounts[k.kind] ??= {});
      c[type] = (c[type] ?? 0) + 1;
    });
  // What each write of the composite changed, by field: where its events come from.
  const xrChanges: Record<string, number> = {};
  // By name: a re-created claim's composite is written while the old one goes.
  const previous = new Map<string, Record<string, unknown>>();
  void watchKind(
    { apiVersion: groups.composite, kind: "XStretchKafka" },
    `${labels.claimName}=${claim}`,
    (type, object) => {
      xr++;
      const name = (object?.["metadata"] as { name?: string } | undefined)?.name ?? "";
      const before = previous.get(name);
      traced(
        `XR/${name}`,
        type,
        before && object ? [...writers(before, object), ...leaves(before, object, "")] : [],
      );
      if (type === "MODIFIED" && before && object)
        for (const field of changedFields(before, object))
          xrChanges[field] = (xrChanges[field] ?? 0) + 1;
      if (object) previous.set(name, object);
    },
  );
  // Every ProviderConfig's writes by field: the function requires its clusters'
  // configs until it has composed there, and the breaker counts their changes then.
  const pcChanges: Record<string, number> = {};
  const pcBefore = new Map<string, Record<string, unknown>>();
  void watchKind({ apiVersion: groups.remote, kind: "ProviderConfig" }, "", (type, object) => {
    const name = (object?.["metadata"] as { name?: string } | undefined)?.name ?? "";
    const before = pcBefore.get(name);
    traced(`ProviderConfig/${name}`, type, before && object ? changedFields(before, object) : []);
    if (type === "MODIFIED" && before && object)
      for (const field of changedFields(before, object))
        pcChanges[field] = (pcChanges[field] ?? 0) + 1;
    if (object) pcBefore.set(name, object);
  });
  return {
    count: () => n,
    /** The composite's own watch events (its creation and each write of it). */
    composite: () => xr,
    /** The composite's writes by the field they changed (status.x, spec.x, metadata.x). */
    compositeChanges: () => xrChanges,
    /** Every ProviderConfig's writes by the field they changed (counted only while required). */
    configChanges: () => pcChanges,
    byKind: () => kindCounts,
    /** Watches that ended before stop(): the count is short by what they missed. */
    errors: () => errors,
    stop: () => {
      ac.abort();
    },
  };
}

/** Who wrote: the managedFields entries that changed (manager, operation, subresource). */
function writers(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  type Entry = { manager?: string; operation?: string; subresource?: string };
  const entries = (o: Record<string, unknown>): Entry[] =>
    (o["metadata"] as { managedFields?: Entry[] } | undefined)?.managedFields ?? [];
  const had = new Set(entries(a).map((e) => JSON.stringify(e)));
  return entries(b)
    .filter((e) => !had.has(JSON.stringify(e)))
    .map(
      (e) =>
        `by ${e.manager ?? "?"}/${e.operation ?? "?"}${e.subresource ? `/${e.subresource}` : ""}`,
    );
}

/** The paths of the leaves that differ (the trace's detail), up to a dozen. */
function leaves(a: unknown, b: unknown, at: string): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  const skip = ["resourceVersion", "managedFields", "generation", "lastTransitionTime"];
  if (a && b && typeof a === "object" && typeof b === "object") {
    const x = a as Record<string, unknown>;
    const y = b as Record<string, unknown>;
    return [...new Set([...Object.keys(x), ...Object.keys(y)])]
      .filter((k) => !skip.includes(k))
      .flatMap((k) => leaves(x[k], y[k], at ? `${at}.${k}` : k))
      .slice(0, 12);
  }
  return [`${at}=${b === undefined ? "(gone)" : JSON.stringify(b).slice(0, 60)}`];
}

/** The second-level fields (status.clusters, metadata.finalizers, ...) that differ between two versions. */
function changedFields(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const top of ["metadata", "spec", "status"]) {
    const x = (a[top] ?? {}) as Record<string, unknown>;
    const y = (b[top] ?? {}) as Record<string, unknown>;
    for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
      if (["resourceVersion", "managedFields", "generation"].includes(k)) continue;
      if (JSON.stringify(x[k]) === JSON.stringify(y[k])) continue;
      if (k !== "conditions") {
        out.push(`${top}.${k}`);
        continue;
      }
      // Conditions by type: which of them turn or change their words.
      type C = { type?: string };
      const byType = (v: unknown): Map<string, string> =>
        new Map(((v ?? []) as C[]).map((c) => [c.type ?? "", JSON.stringify(c)]));
      const [cx, cy] = [byType(x[k]), byType(y[k])];
      for (const t of new Set([...cx.keys(), ...cy.keys()]))
        if (cx.get(t) !== cy.get(t)) out.push(`${top}.conditions[${t}]`);
    }
  }
  return out;
}

/**
 * Crossplane's own counters: its XR circuit breakers' openings and the events
 * they took and dropped, and what its composite controllers did (XR
 * reconciles, function calls, seconds XRs waited in the work queue), which
 * says whether a slow claim waited for Crossplane or for something it asked.
 */
export interface BreakerCounts {
  opens: number;
  allowed: number;
  dropped: number;
  /** controller_runtime_reconcile_total of the composite/* controllers. */
  xrReconciles: number;
  /** function_run_function_request_total. */
  functionRuns: number;
  /** workqueue_queue_duration_seconds_sum of the composite/* queues: time XRs waited for a worker. */
  xrQueueSeconds: number;
}

/** Sums the samples of a metric in Prometheus text format whose labels include every one of `match`. */
export function sumMetric(text: string, name: string, match: string[] = []): number {
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) && match.every((m) => l.includes(m)))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

/** Reads Crossplane core's counters (summed over controllers) from its /metrics. */
export async function breakerCounts(metricsUrl: string): Promise<BreakerCounts> {
  const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(30_000) })).text();
  const sum = (name: string, label?: string): number => sumMetric(text, name, label ? [label] : []);
  return {
    opens: sum("circuit_breaker_opens_total"),
    allowed: sum("circuit_breaker_events_total", 'result="Allowed"'),
    dropped: sum("circuit_breaker_events_total", 'result="Dropped"'),
    xrReconciles: sum("controller_runtime_reconcile_total", 'controller="composite/'),
    functionRuns: sum("function_run_function_request_total"),
    xrQueueSeconds: sum("workqueue_queue_duration_seconds_sum", 'name="composite/'),
  };
}

/** The difference of two readings: what happened between them. */
export function breakerDelta(before: BreakerCounts, after: BreakerCounts): BreakerCounts {
  return {
    opens: after.opens - before.opens,
    allowed: after.allowed - before.allowed,
    dropped: after.dropped - before.dropped,
    xrReconciles: after.xrReconciles - before.xrReconciles,
    functionRuns: after.functionRuns - before.functionRuns,
    xrQueueSeconds: Number((after.xrQueueSeconds - before.xrQueueSeconds).toFixed(1)),
  };
}
