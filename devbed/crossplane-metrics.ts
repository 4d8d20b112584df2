/** What Crossplane core's /metrics says of its XR circuit breakers and composite controllers. */

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
