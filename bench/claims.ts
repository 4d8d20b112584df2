/**
 * What bench:e2e and bench:fleet share: the smallest claim that survives
 * losing a cluster, applying claims and timing each one to Ready, and
 * waiting for a settled fleet.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { labels } from "../apis/index.ts";
import type { DynamicClient, KubeObject } from "../controller/kube/dynamic.ts";
import { describeError } from "../controller/kube/errors.ts";

export const claimGroup = "stretchkafka.dev/v1alpha1";
export const remoteGroup = "remote.stretchkafka.dev/v1alpha1";
/**
 * The managed-resource kinds a claim has most of, counted and watched by the
 * benchmarks: its sets (the shipped Composition's, ADR 0026), or these per
 * object.
 */
export const mainKinds = [
  "RemoteObjectSet",
  "RemoteConfigMap",
  "RemoteSecret",
  "RemoteStrimziPodSet",
  "RemoteService",
];
export const fm = { fieldManager: "bench" };

export interface Claim extends KubeObject {
  spec?: { resourceRef?: { name: string } };
  status?: { conditions?: { type: string; status: string; reason?: string }[] };
}

/** The smallest claim that survives losing a cluster: one dual-role node in each of `clusters`. */
export function claim(name: string, namespace: string, clusters: readonly string[]): KubeObject {
  return {
    apiVersion: claimGroup,
    kind: "StretchKafka",
    metadata: { name, namespace },
    spec: {
      kafka: { version: "4.3.1" },
      networking: { provider: "mcs" },
      clusters: clusters.map((c) => ({
        name: c,
        providerConfigRef: { name: c },
        nodePools: [{ name: "nodes", roles: ["controller", "broker"], replicas: 1 }],
      })),
      writeConnectionSecretToRef: { name: `${name}-kafka` },
    },
  };
}

export const isReady = (c: Claim): boolean =>
  c.status?.conditions?.some((x) => x.type === "Ready" && x.status === "True") ?? false;

export function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)] ?? NaN;
}

/**
 * Waits until no composite and no managed resource has been written for
 * `quietSeconds` (their newest resourceVersion unchanged, read as metadata),
 * at most `maxSeconds`; resolves with the seconds it waited.
 */
export async function quiet(
  central: DynamicClient,
  quietSeconds: number,
  maxSeconds: number,
): Promise<number> {
  const t0 = performance.now();
  const newest = async (): Promise<number> => {
    let max = 0;
    for (const [apiVersion, kind] of [
      [claimGroup, "XStretchKafka"],
      ...[...mainKinds, "RemoteKafka"].map((k) => [remoteGroup, k] as const),
    ] as const) {
      const list = await central.list(apiVersion, kind, { metadataOnly: true });
      for (const o of list.items) max = Math.max(max, Number(o.metadata.resourceVersion ?? 0));
    }
    return max;
  };
  let last = await newest();
  let since = performance.now();
  while ((performance.now() - t0) / 1000 < maxSeconds) {
    await sleep(3000);
    const now = await newest().catch(() => last + 1);
    if (now !== last) {
      last = now;
      since = performance.now();
    } else if ((performance.now() - since) / 1000 >= quietSeconds) break;
  }
  return Math.round((performance.now() - t0) / 1000);
}

/** Each claim's seconds from apply to Ready; for a single claim also the steps of its way. */
export interface Measured {
  ready: Map<string, number>;
  circuitOpened: boolean;
  phases: Record<string, number>;
}

/**
 * Applies `claims` (all in `namespace`) and resolves once every one is Ready
 * (at most 45 minutes). With a single claim it also records when its
 * composite, its first managed resource, all of them Ready and the
 * composite Ready were first seen, and whether the composite said its watch
 * circuit breaker opened.
 */
export async function applyAndWait(
  central: DynamicClient,
  namespace: string,
  claims: KubeObject[],
  log: (m: string) => void,
): Promise<Measured> {
  const names = claims.map((c) => c.metadata.name ?? "");
  const applied = new Map<string, number>();
  const ready = new Map<string, number>();
  let circuitOpened = false;
  // One claim: when each step of its way was first seen, in seconds from its apply.
  const phases: Record<string, number> = {};
  const seen = (phase: string, now: number): void => {
    const at = applied.get(names[0] ?? "");
    if (!(phase in phases) && at !== undefined)
      phases[phase] = Number(((now - at) / 1000).toFixed(1));
  };
  for (const c of claims) {
    await central.apply(c, fm);
    applied.set(c.metadata.name ?? "", performance.now());
  }
  const t0 = performance.now();
  let lastReport = 0;
  while (ready.size < names.length) {
    if (performance.now() - t0 > 45 * 60_000) throw new Error("not all Ready within 45 minutes");
    // A busy API server may not answer a look within the client's 30 s:
    // that look is missed, not the run.
    const list = await central
      .list<Claim>(claimGroup, "StretchKafka", { namespace })
      .catch((err: unknown) => {
        log(`  (a look at the claims failed, looking again: ${describeError(err)})`);
        return undefined;
      });
    if (!list) {
      await sleep(1000);
      continue;
    }
    const now = performance.now();
    for (const c of list.items) {
      const n = c.metadata.name ?? "";
      const at = applied.get(n);
      if (at !== undefined && !ready.has(n) && isReady(c)) ready.set(n, (now - at) / 1000);
    }
    if (names.length === 1) {
      const xrName = list.items.find((c) => c.metadata.name === names[0])?.spec?.resourceRef?.name;
      const xr = xrName
        ? await central.find<Claim>(claimGroup, "XStretchKafka", xrName)
        : undefined;
      if (xr?.status?.conditions?.some((x) => x.reason === "WatchCircuitOpen"))
        circuitOpened = true;
      if (xr && xrName) {
        seen("composite", now);
        const mrs = (
          await Promise.all(
            mainKinds.map(
              async (k) =>
                (
                  await central.list<Claim>(remoteGroup, k, {
                    labelSelector: `${labels.crossplaneComposite}=${xrName}`,
                  })
                ).items,
            ),
          )
        ).flat();
        if (mrs.length > 0) seen("first managed resource", now);
        if (mrs.length > 0 && mrs.every(isReady)) seen("those managed resources Ready", now);
        if (isReady(xr)) seen("composite Ready", now);
      }
    }
    if (now - lastReport > 10_000) {
      log(`  ${String(ready.size)}/${String(names.length)} Ready`);
      lastReport = now;
    }
    await sleep(200);
  }
  return { ready, circuitOpened, phases };
}

/** How many managed resources of the main kinds there are. */
export async function countManaged(central: DynamicClient): Promise<number> {
  const counts = await Promise.all(
    mainKinds.map(
      async (k) => (await central.list(remoteGroup, k, { metadataOnly: true })).items.length,
    ),
  );
  return counts.reduce((a, b) => a + b, 0);
}
