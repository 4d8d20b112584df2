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
  /** When the pool shrinks, these of its ids go first (then the highest). */
  removeNodeIds?: number[];
  /** When the pool grows, these ids are given out first (each at least `next`). */
  nextNodeIds?: number[];
}

const keyOf = (cluster: string, pool: string): string => `${cluster}/${pool}`;

/** Pools in the order ids are handed out: by cluster name, then pool name. */
function ordered<T extends { cluster: string; pool: string }>(pools: T[]): T[] {
  return [...pools].sort((a, b) =>
    a.cluster === b.cluster ? a.pool.localeCompare(b.pool) : a.cluster.localeCompare(b.cluster),
  );
}

/**
 * Gives every pool exactly `replicas` ids: the ones it had (when it shrank,
 * without those named in `removeNodeIds`, then without the highest) plus new
 * ones: those named in `nextNodeIds` that were never given out, then from
 * `next`. Callers check `nextNodeIds` first (nodeIdProblems).
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
  const given = next;
  const pinned = new Set<number>();
  for (const p of ordered(pools)) {
    const before = had.get(keyOf(p.cluster, p.pool)) ?? [];
    const remove = new Set(p.removeNodeIds ?? []);
    const ids =
      before.length > p.replicas
        ? [...before.filter((id) => !remove.has(id)), ...before.filter((id) => remove.has(id))]
            .slice(0, p.replicas)
            .sort((a, b) => a - b)
        : before;
    for (const id of p.nextNodeIds ?? []) {
      if (ids.length >= p.replicas) break;
      if (id < given || pinned.has(id)) continue;
      pinned.add(id);
      ids.push(id);
    }
    out.push({ cluster: p.cluster, pool: p.pool, ids });
  }
  // Then ids from `next`, skipping those pinned; `next` ends past every id given out.
  next = Math.max(next, ...[...pinned].map((id) => id + 1));
  for (const [i, p] of ordered(pools).entries()) {
    const entry = out[i];
    if (!entry) continue;
    while (entry.ids.length < p.replicas) {
      let id = next++;
      while (pinned.has(id)) id = next++;
      entry.ids.push(id);
    }
  }
  return { next, pools: out };
}

/** Puts ids back into their pools (nodes whose removal waits), keeping `next`. */
export function withRetained(
  a: NodeIdAllocation,
  retained: { cluster: string; pool: string; id: number }[],
): NodeIdAllocation {
  if (retained.length === 0) return a;
  return {
    next: a.next,
    pools: a.pools.map((p) => {
      const back = retained
        .filter((r) => r.cluster === p.cluster && r.pool === p.pool && !p.ids.includes(r.id))
        .map((r) => r.id);
      return back.length > 0 ? { ...p, ids: [...p.ids, ...back].sort((x, y) => x - y) } : p;
    }),
  };
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
