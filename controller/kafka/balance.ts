/**
 * Rebalancing: which replicas move, and which replica leads, so that brokers
 * that joined (a pool scaled up, a cluster added or replaced) take their
 * share. Pure, like the drain planner beside it (drain.ts): the caller asks
 * Kafka for the view and the replica sizes, and tells Kafka the moves under
 * the same throttle.
 *
 * The rules, in order:
 * 1. One replica per Kubernetes cluster is a hard rule. A partition with two
 *    replicas in one cluster while a cluster with brokers has none gets one
 *    moved there (a cluster added after another was lost gets its replica of
 *    every partition back). A move never breaks the rule.
 * 2. Replica counts per broker are balanced to within one of each other, over
 *    all brokers the plan may use: a replica moves within its cluster, or to a
 *    cluster the partition has no replica in. The replica moved is one of the
 *    topic the heavy broker holds most more of than the light one, so each
 *    topic's replicas spread as the totals do; among those, where Kafka
 *    reported replica sizes (DescribeLogDirs), the one that brings the two
 *    brokers' bytes closest, so bytes balance as counts do.
 * 3. Preferred leaders (the first replica) are spread to within one of each
 *    other by reordering replica lists, which moves no data: within each
 *    topic first, then over all partitions without making a topic less even.
 *
 * Partitions being reassigned, or moved recently and not settled, are left
 * alone (drain.ts `unsettled`). Replicas on brokers outside the plan's set
 * (fenced, leaving, gone) are not touched: taking them off is the drain's job.
 */
import type { KafkaView, PartitionMove } from "./admin.ts";
import { planDrain, unsettled } from "./drain.ts";

export interface BalanceInput {
  view: KafkaView;
  /** Brokers that may hold replicas: registered, unfenced, not leaving. */
  brokers: number[];
  clusterOf: (id: number) => string | undefined;
  /** Size in bytes of each partition's replica ("topic/partition"), where Kafka reported one. */
  sizes?: ReadonlyMap<string, number>;
  /** Mode add-brokers: replicas move only onto these brokers (leaders are still spread). */
  onto?: ReadonlySet<number>;
  /** Target replicas of moves made recently (see drain.ts planDrain). */
  moved?: ReadonlyMap<string, number[]>;
  /** Moves at most this many partitions' data (the rest in a later round); leader-only changes do not count. */
  maxDataMoves?: number;
}

export interface BalanceFigures {
  /** Replicas per broker. */
  replicas: Record<string, number>;
  /** Preferred leaders per broker. */
  leaders: Record<string, number>;
  /** Bytes per broker, where every replica's size is known. */
  bytes?: Record<string, number>;
  /**
   * Most minus fewest replicas between two brokers of one cluster, the worst
   * cluster. (Across clusters the hard rule decides: with a replica of every
   * partition in every cluster, a cluster's brokers share what it holds.)
   */
  replicaSpread: number;
  /** Most minus fewest preferred leaders over the brokers. */
  leaderSpread: number;
  /** Partitions missing a replica in a cluster that has brokers while another cluster holds two. */
  placementViolations: number;
}

export interface BalancePlan {
  /** Every partition whose replica list changes, in its final order. */
  moves: PartitionMove[];
  /** How many of them move data (the replica set changes); the rest only change the preferred leader. */
  dataMoves: number;
  /** Replicas created on new brokers. */
  replicasMoved: number;
  /** Bytes copied, over the replicas whose size is known. */
  bytesToMove: number;
  /** Replicas moved whose size Kafka did not report. */
  unknownSizes: number;
  before: BalanceFigures;
  after: BalanceFigures;
  /** Replica counts within one inside each cluster, preferred leaders within one over all brokers, no placement violation. */
  balanced: boolean;
}

type Assignment = Map<string, number[]>;

const key = (topic: string, partition: number): string => `${topic}/${partition}`;

/** Replicas, preferred leaders and bytes (unknown sizes as 0) per broker of `brokers`. */
function tally(
  a: Assignment,
  brokers: number[],
  sizes: ReadonlyMap<string, number> | undefined,
): { replicas: Map<number, number>; leaders: Map<number, number>; bytes: Map<number, number> } {
  const replicas = new Map(brokers.map((b) => [b, 0]));
  const leaders = new Map(brokers.map((b) => [b, 0]));
  const bytes = new Map(brokers.map((b) => [b, 0]));
  for (const [k, rs] of a) {
    for (const r of rs) {
      if (!replicas.has(r)) continue;
      replicas.set(r, (replicas.get(r) ?? 0) + 1);
      bytes.set(r, (bytes.get(r) ?? 0) + (sizes?.get(k) ?? 0));
    }
    const lead = rs[0];
    if (lead !== undefined && leaders.has(lead)) leaders.set(lead, (leaders.get(lead) ?? 0) + 1);
  }
  return { replicas, leaders, bytes };
}

function figures(
  a: Assignment,
  brokers: number[],
  clusterOf: (id: number) => string | undefined,
  sizes: ReadonlyMap<string, number> | undefined,
): BalanceFigures {
  const { replicas, leaders, bytes } = tally(a, brokers, sizes);
  const sizesKnown = sizes !== undefined && [...a.keys()].every((k) => sizes.has(k));
  const clusters = new Set(brokers.map(clusterOf));
  const placementViolations = [...a.values()].filter((rs) =>
    violates(rs, clusters, clusterOf),
  ).length;
  const spread = (m: Map<number, number>): number =>
    m.size === 0 ? 0 : Math.max(...m.values()) - Math.min(...m.values());
  const clusterSpread = (m: Map<number, number>): number =>
    Math.max(
      0,
      ...[...clusters].map((c) => spread(new Map([...m].filter(([b]) => clusterOf(b) === c)))),
    );
  const record = (m: Map<number, number>): Record<string, number> =>
    Object.fromEntries([...m].map(([b, n]) => [String(b), n]));
  return {
    replicas: record(replicas),
    leaders: record(leaders),
    ...(sizesKnown ? { bytes: record(bytes) } : {}),
    replicaSpread: clusterSpread(replicas),
    leaderSpread: spread(leaders),
    placementViolations,
  };
}

/** Two replicas share a cluster while a cluster with brokers has none of the partition. */
function violates(
  replicas: number[],
  clusters: ReadonlySet<string | undefined>,
  clusterOf: (id: number) => string | undefined,
): boolean {
  const present = replicas.map(clusterOf);
  const doubled = present.length !== new Set(present).size;
  return doubled && [...clusters].some((c) => !present.includes(c));
}

export function planBalance(input: BalanceInput): BalancePlan {
  const { view, brokers, clusterOf, sizes } = input;
  const busy = unsettled(view, input.moved ?? new Map());
  const before: Assignment = new Map();
  for (const t of view.topics)
    for (const p of t.partitions) before.set(key(t.name, p.id), [...p.replicas]);
  const after: Assignment = new Map([...before].map(([k, rs]) => [k, [...rs]]));
  const usable = new Set(brokers);
  const receivers = brokers.filter((b) => !input.onto || input.onto.has(b));
  const clusters = new Set(brokers.map(clusterOf));
  const maxDataMoves = input.maxDataMoves ?? Infinity;
  const touched = new Set<string>();

  const { replicas: load, bytes } = tally(after, brokers, sizes);
  const topicOf = (k: string): string => k.slice(0, k.lastIndexOf("/"));
  /** Replicas per broker within each topic, so a topic's replicas spread as the totals do. */
  const topicLoad = new Map<string, Map<number, number>>();
  const inTopic = (k: string): Map<number, number> => {
    const m = topicLoad.get(topicOf(k)) ?? new Map<number, number>();
    topicLoad.set(topicOf(k), m);
    return m;
  };
  for (const [k, rs] of after) for (const r of rs) inTopic(k).set(r, (inTopic(k).get(r) ?? 0) + 1);
  const movable = (k: string): boolean =>
    !busy.has(k) && (touched.has(k) || touched.size < maxDataMoves);
  /** Whether moving partition k's replica from `from` to `to` keeps one replica per cluster. */
  const placementOk = (rs: number[], from: number, to: number): boolean =>
    clusterOf(from) === clusterOf(to) ||
    !rs.some((r) => r !== from && clusterOf(r) === clusterOf(to));
  const move = (k: string, from: number, to: number): void => {
    const rs = after.get(k) ?? [];
    rs[rs.indexOf(from)] = to;
    touched.add(k);
    const size = sizes?.get(k) ?? 0;
    const t = inTopic(k);
    t.set(from, (t.get(from) ?? 0) - 1);
    t.set(to, (t.get(to) ?? 0) + 1);
    load.set(from, (load.get(from) ?? 0) - 1);
    load.set(to, (load.get(to) ?? 0) + 1);
    bytes.set(from, (bytes.get(from) ?? 0) - size);
    bytes.set(to, (bytes.get(to) ?? 0) + size);
  };
  const byLoad = (a: number, b: number): number =>
    (load.get(a) ?? 0) - (load.get(b) ?? 0) || (bytes.get(a) ?? 0) - (bytes.get(b) ?? 0) || a - b;

  // 1. One replica per cluster.
  for (const [k, rs] of after) {
    if (!movable(k) || !violates(rs, clusters, clusterOf)) continue;
    const present = new Set(rs.map(clusterOf));
    for (const missing of [...clusters].filter((c) => !present.has(c))) {
      const seen = new Map<string | undefined, number>();
      for (const r of rs) seen.set(clusterOf(r), (seen.get(clusterOf(r)) ?? 0) + 1);
      // A replica from a doubled cluster, not the leader if it can be helped.
      const from = rs
        .filter((r) => usable.has(r) && (seen.get(clusterOf(r)) ?? 0) > 1)
        .sort((a, b) => Number(a === rs[0]) - Number(b === rs[0]) || byLoad(b, a))[0];
      const to = receivers
        .filter((b) => clusterOf(b) === missing && !rs.includes(b))
        .sort(byLoad)[0];
      if (from === undefined || to === undefined) continue;
      move(k, from, to);
    }
  }

  // 2. Replica counts (and bytes, where known), heaviest broker to lightest.
  for (;;) {
    const heavy = [...brokers].sort((a, b) => byLoad(b, a));
    const light = [...receivers].sort(byLoad);
    let done = false;
    search: for (const h of heavy) {
      for (const l of light) {
        if ((load.get(h) ?? 0) - (load.get(l) ?? 0) <= 1) continue;
        const gap = (bytes.get(h) ?? 0) - (bytes.get(l) ?? 0);
        const candidates = [...after]
          .filter(([k, rs]) => rs.includes(h) && !rs.includes(l) && movable(k))
          .filter(([, rs]) => placementOk(rs, h, l))
          .map(([k, rs]) => ({
            k,
            leader: rs[0] === h,
            // How much more of this topic the heavy broker holds than the light one.
            topicGap: (inTopic(k).get(h) ?? 0) - (inTopic(k).get(l) ?? 0),
            // How far the two brokers' bytes end up from each other.
            after: Math.abs(gap - 2 * (sizes?.get(k) ?? 0)),
          }))
          .sort(
            (a, b) =>
              Number(a.leader) - Number(b.leader) || b.topicGap - a.topicGap || a.after - b.after,
          );
        const pick = candidates[0];
        if (pick) {
          move(pick.k, h, l);
          done = true;
          break search;
        }
      }
    }
    if (!done) break;
  }

  // 3. Preferred leaders: a list starts with its least-leading replica when
  // that evens things out, first within each topic (a topic's leaders on few
  // brokers is a hot spot whatever the totals), then over all partitions by
  // swaps that leave no topic less even.
  const leads = tally(after, brokers, sizes).leaders;
  const topicLeads = new Map<string, Map<number, number>>();
  for (const [k, rs] of after) {
    const m = topicLeads.get(topicOf(k)) ?? new Map<number, number>();
    topicLeads.set(topicOf(k), m);
    const first = rs[0];
    if (first !== undefined && leads.has(first)) m.set(first, (m.get(first) ?? 0) + 1);
  }
  const spreadLeaders = (
    gap: (inTopic: Map<number, number>, first: number, best: number) => number,
    order: (inTopic: Map<number, number>) => (a: number, b: number) => number,
  ): void => {
    for (let changed = true; changed;) {
      changed = false;
      for (const [k, rs] of after) {
        if (busy.has(k)) continue;
        const first = rs[0];
        const inTopic = topicLeads.get(topicOf(k)) ?? new Map<number, number>();
        if (first === undefined || !leads.has(first)) continue;
        const best = rs.filter((r) => leads.has(r)).sort(order(inTopic))[0];
        if (best === undefined || best === first || gap(inTopic, first, best) <= 1) continue;
        rs.splice(rs.indexOf(best), 1);
        rs.unshift(best);
        for (const m of [leads, inTopic]) {
          m.set(first, (m.get(first) ?? 0) - 1);
          m.set(best, (m.get(best) ?? 0) + 1);
        }
        changed = true;
      }
    }
  };
  const count = (m: Map<number, number>, b: number): number => m.get(b) ?? 0;
  spreadLeaders(
    (t, first, best) => count(t, first) - count(t, best),
    (t) => (a, b) => count(t, a) - count(t, b) || count(leads, a) - count(leads, b) || a - b,
  );
  spreadLeaders(
    (t, first, best) =>
      count(t, first) - count(t, best) >= 1 ? count(leads, first) - count(leads, best) : 0,
    (t) => (a, b) => count(leads, a) - count(leads, b) || count(t, a) - count(t, b) || a - b,
  );

  return summarise(view, before, after, { before: brokers, after: brokers }, clusterOf, sizes);
}

/** The moves from `before` to `after`, with what they copy and the figures either side. */
function summarise(
  view: KafkaView,
  before: Assignment,
  after: Assignment,
  brokers: { before: number[]; after: number[] },
  clusterOf: (id: number) => string | undefined,
  sizes: ReadonlyMap<string, number> | undefined,
): BalancePlan {
  const moves: PartitionMove[] = [];
  let dataMoves = 0;
  let replicasMoved = 0;
  let bytesToMove = 0;
  let unknownSizes = 0;
  for (const t of view.topics) {
    for (const p of t.partitions) {
      const k = key(t.name, p.id);
      const was = before.get(k) ?? [];
      const now = after.get(k) ?? [];
      if (was.join(",") === now.join(",")) continue;
      moves.push({ topic: t.name, partition: p.id, replicas: now });
      const added = now.filter((r) => !was.includes(r)).length;
      if (added === 0) continue;
      dataMoves++;
      replicasMoved += added;
      const size = sizes?.get(k);
      if (size === undefined) unknownSizes += added;
      else bytesToMove += size * added;
    }
  }
  const afterFigures = figures(after, brokers.after, clusterOf, sizes);
  return {
    moves,
    dataMoves,
    replicasMoved,
    bytesToMove,
    unknownSizes,
    before: figures(before, brokers.before, clusterOf, sizes),
    after: afterFigures,
    balanced:
      afterFigures.replicaSpread <= 1 &&
      afterFigures.leaderSpread <= 1 &&
      afterFigures.placementViolations === 0,
  };
}

/**
 * Mode remove-brokers: every replica off `removing`, by the drain's placement
 * rules (drain.ts planDrain: a replica goes to a broker of its own cluster),
 * at most `maxDataMoves` partitions, figured over the brokers that stay.
 * `stuck` names partitions no broker can take.
 */
export function planRemoval(
  input: BalanceInput & { removing: ReadonlySet<number> },
): BalancePlan & { stuck: string[] } {
  const { view, clusterOf, sizes } = input;
  const staying = input.brokers.filter((b) => !input.removing.has(b));
  const drain = planDrain(view, new Set(input.removing), staying, clusterOf, input.moved);
  const before: Assignment = new Map();
  for (const t of view.topics)
    for (const p of t.partitions) before.set(key(t.name, p.id), [...p.replicas]);
  const after: Assignment = new Map(before);
  for (const m of drain.moves.slice(0, input.maxDataMoves ?? Infinity))
    after.set(key(m.topic, m.partition), m.replicas);
  const all = [...new Set([...input.brokers, ...input.removing])];
  return {
    ...summarise(view, before, after, { before: all, after: staying }, clusterOf, sizes),
    stuck: drain.stuck,
  };
}

export type RebalanceMode = "full" | "add-brokers" | "remove-brokers";

/** A rebalance of a mode: full (every broker), add-brokers (onto `brokers`), remove-brokers (off `brokers`). */
export function planRebalance(
  mode: RebalanceMode,
  listed: number[],
  input: BalanceInput,
): BalancePlan & { stuck: string[] } {
  if (mode === "remove-brokers") return planRemoval({ ...input, removing: new Set(listed) });
  return {
    ...planBalance(mode === "add-brokers" ? { ...input, onto: new Set(listed) } : input),
    stuck: [],
  };
}
