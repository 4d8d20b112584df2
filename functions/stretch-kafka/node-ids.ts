/**
 * Node-ID allocation. IDs are unique across all clusters, stable across
 * reconciles and reorderings, and never reused: `next` only grows, so the ids
 * of a removed node, pool or cluster are retired for good. The allocation is
 * recorded in the composite's status; a run over that status reproduces it.
 */
import type { NodeIdAllocation } from "../../apis/index.ts";

export interface PoolKey {
  cluster: string;
  pool: string;
  replicas: number;
}

const keyOf = (cluster: string, pool: string): string => `${cluster}/${pool}`;

/** Pools in the order ids are handed out: by cluster name, then pool name. */
function ordered<T extends { cluster: string; pool: string }>(pools: T[]): T[] {
  return [...pools].sort((a, b) =>
    a.cluster === b.cluster ? a.pool.localeCompare(b.pool) : a.cluster.localeCompare(b.cluster),
  );
}

/**
 * Gives every pool exactly `replicas` ids: the ones it had (lowest first when
 * it shrank) plus new ones from `next`.
 */
export function allocateNodeIds(pools: PoolKey[], previous?: NodeIdAllocation): NodeIdAllocation {
  const had = new Map<string, number[]>();
  let next = previous?.next ?? 0;
  for (const p of previous?.pools ?? []) {
    had.set(
      keyOf(p.cluster, p.pool),
      [...p.ids].sort((a, b) => a - b),
    );
    // Never trust `next` alone: a hand-edited status must not cause reuse.
    for (const id of p.ids) next = Math.max(next, id + 1);
  }
  const out: NodeIdAllocation["pools"] = [];
  for (const p of ordered(pools)) {
    const ids = (had.get(keyOf(p.cluster, p.pool)) ?? []).slice(0, p.replicas);
    while (ids.length < p.replicas) ids.push(next++);
    out.push({ cluster: p.cluster, pool: p.pool, ids });
  }
  return { next, pools: out };
}

/** Recovers an allocation from node ids found on observed objects (when status was lost). */
export function allocationFromObserved(
  found: { cluster: string; pool: string; ids: number[] }[],
): NodeIdAllocation | undefined {
  if (found.length === 0) return undefined;
  const pools = ordered(found).map((p) => ({ ...p, ids: [...p.ids].sort((a, b) => a - b) }));
  const next = Math.max(...pools.flatMap((p) => p.ids.map((id) => id + 1)), 0);
  return { next, pools };
}
