/**
 * The balancer's planner (controller/kafka/balance.ts): new brokers take their
 * share, a cluster added after another was lost gets a replica of every
 * partition back, preferred leaders are spread, and no move ever breaks the
 * one-replica-per-cluster rule. Checked on hand-made layouts and on random
 * ones (a seeded generator: a failure prints its seed).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { KafkaView } from "../../controller/kafka/admin.ts";
import { planBalance, planRebalance, type BalancePlan } from "../../controller/kafka/balance.ts";
import { placementView } from "./kafka-fixtures.ts";

const view = placementView;

/** The replica lists after the plan. */
function applied(v: KafkaView, plan: BalancePlan): number[][] {
  const moved = new Map(plan.moves.map((m) => [m.partition, m.replicas]));
  return (v.topics[0]?.partitions ?? []).map((p) => moved.get(p.id) ?? p.replicas);
}

const clusters = (x: Record<string, number[]>): ((id: number) => string) => {
  const of = new Map(Object.entries(x).flatMap(([c, ids]) => ids.map((id) => [id, c] as const)));
  return (id) => of.get(id) ?? "gone";
};

test("a pool scaled up: each cluster's new broker takes half of its cluster's replicas", () => {
  // One broker per cluster held everything; each cluster gains one.
  const clusterOf = clusters({ east: [0, 1], west: [2, 3], north: [4, 5] });
  const partitions = Array.from({ length: 12 }, (_, i) =>
    [0, 2, 4].map((b, j) => [0, 2, 4][(i + j) % 3] ?? b),
  );
  const v = view(partitions, [0, 1, 2, 3, 4, 5], clusterOf);
  const sizes = new Map(partitions.map((_, i) => [`orders/${String(i)}`, 1000 * (i + 1)]));
  const plan = planBalance({ view: v, brokers: [0, 1, 2, 3, 4, 5], clusterOf, sizes });

  assert.deepEqual(plan.before.replicas, { 0: 12, 1: 0, 2: 12, 3: 0, 4: 12, 5: 0 });
  assert.deepEqual(plan.after.replicas, { 0: 6, 1: 6, 2: 6, 3: 6, 4: 6, 5: 6 });
  assert.equal(plan.after.placementViolations, 0);
  assert.ok(plan.after.leaderSpread <= 1, `leaders ${JSON.stringify(plan.after.leaders)}`);
  assert.equal(plan.balanced, true);
  assert.equal(plan.replicasMoved, 18);
  assert.equal(plan.unknownSizes, 0);
  // Bytes follow the counts: each cluster's two brokers end up close.
  const bytes = plan.after.bytes ?? {};
  for (const [a, b] of [
    ["0", "1"],
    ["2", "3"],
    ["4", "5"],
  ] as const) {
    const total = (bytes[a] ?? 0) + (bytes[b] ?? 0);
    assert.ok(
      Math.abs((bytes[a] ?? 0) - (bytes[b] ?? 0)) <= total * 0.2,
      `bytes ${a}/${b}: ${JSON.stringify(bytes)}`,
    );
  }
  for (const rs of applied(v, plan)) {
    assert.deepEqual(
      new Set(rs.map(clusterOf)).size,
      3,
      `one replica per cluster: ${rs.join(",")}`,
    );
  }
});

test("add-brokers: replicas move only onto the named brokers", () => {
  const clusterOf = clusters({ east: [0, 1, 6], west: [2, 3], north: [4, 5] });
  const partitions = Array.from({ length: 12 }, (_, i) => [i % 2 === 0 ? 0 : 1, 2, 4]);
  const v = view(partitions, [0, 1, 2, 3, 4, 5, 6], clusterOf);
  const plan = planBalance({
    view: v,
    brokers: [0, 1, 2, 3, 4, 5, 6],
    clusterOf,
    onto: new Set([6, 3]),
  });
  for (const m of plan.moves) {
    const was = v.topics[0]?.partitions[m.partition]?.replicas ?? [];
    for (const r of m.replicas.filter((x) => !was.includes(x)))
      assert.ok([6, 3].includes(r), `replica moved onto ${String(r)}`);
  }
  assert.equal(plan.after.replicas["6"], 4);
  assert.equal(plan.after.replicas["3"], 6);
  assert.equal(plan.after.replicas["5"], 0, "5 was not named");
});

test("a cluster added after another was lost gets a replica of every partition back", () => {
  // North was lost; its replicas were re-created in east (two each there).
  // North's replacement brings brokers 7 and 8.
  const clusterOf = clusters({ east: [0, 1], west: [2, 3], north: [7, 8] });
  const partitions = Array.from({ length: 8 }, (_, i) => [i % 2, 2 + (i % 2), 1 - (i % 2)]);
  const v = view(partitions, [0, 1, 2, 3, 7, 8], clusterOf);
  const plan = planBalance({ view: v, brokers: [0, 1, 2, 3, 7, 8], clusterOf });
  assert.equal(plan.before.placementViolations, 8);
  assert.equal(plan.after.placementViolations, 0);
  for (const rs of applied(v, plan)) {
    assert.deepEqual(
      rs.map(clusterOf).sort(),
      ["east", "north", "west"],
      `replicas ${rs.join(",")}`,
    );
  }
  assert.equal(plan.balanced, true);
});

test("each topic's replicas spread over the brokers, not only the totals", () => {
  // Broker 1 joined east; 0 holds all of orders and payments.
  const clusterOf = clusters({ east: [0, 1] });
  const v = view(
    Array.from({ length: 4 }, () => [0]),
    [0, 1],
    clusterOf,
  );
  const orders = v.topics[0];
  assert.ok(orders);
  v.topics.push({ ...orders, name: "payments" });
  const plan = planBalance({ view: v, brokers: [0, 1], clusterOf, onto: new Set([1]) });
  assert.equal(plan.dataMoves, 4);
  for (const topic of ["orders", "payments"])
    assert.equal(
      plan.moves.filter((m) => m.topic === topic).length,
      2,
      `${topic}: ${JSON.stringify(plan.moves)}`,
    );
});

test("preferred leaders are spread within each topic, not only in total", () => {
  // Every partition of orders is led by 0, every one of payments by 1: even in
  // total (4 and 4), a hot spot for each topic.
  const clusterOf = clusters({ east: [0], west: [1] });
  const v = view(
    Array.from({ length: 4 }, () => [0, 1]),
    [0, 1],
    clusterOf,
  );
  const orders = v.topics[0];
  assert.ok(orders);
  v.topics.push({
    ...orders,
    name: "payments",
    partitions: orders.partitions.map((p) => ({ ...p, replicas: [1, 0], leader: 1, isr: [1, 0] })),
  });
  const plan = planBalance({ view: v, brokers: [0, 1], clusterOf });
  assert.equal(plan.dataMoves, 0, "only the order of replicas changes");
  for (const topic of ["orders", "payments"]) {
    const firsts = v.topics
      .find((t) => t.name === topic)
      ?.partitions.map(
        (p) =>
          plan.moves.find((m) => m.topic === topic && m.partition === p.id)?.replicas[0] ??
          p.replicas[0],
      );
    assert.deepEqual(
      [0, 1].map((b) => firsts?.filter((f) => f === b).length),
      [2, 2],
      `${topic}: preferred leaders ${JSON.stringify(firsts)}`,
    );
  }
  assert.equal(plan.after.leaderSpread, 0);
});

test("partitions being reassigned or not settled are left alone, and maxDataMoves is kept", () => {
  const clusterOf = clusters({ east: [0, 1], west: [2, 3], north: [4, 5] });
  const partitions = Array.from({ length: 10 }, () => [0, 2, 4]);
  const v = view(partitions, [0, 1, 2, 3, 4, 5], clusterOf, {
    reassigning: [{ topic: "orders", partition: 0, adding: [1], removing: [0] }],
  });
  const plan = planBalance({
    view: v,
    brokers: [0, 1, 2, 3, 4, 5],
    clusterOf,
    moved: new Map([["orders/1", [1, 3, 5]]]),
    maxDataMoves: 3,
  });
  assert.ok(!plan.moves.some((m) => m.partition === 0 || m.partition === 1));
  assert.equal(plan.dataMoves, 3);
  assert.equal(plan.balanced, false, "more rounds to go");
});

test("replicas on brokers outside the plan (fenced, leaving, gone) are not touched", () => {
  const clusterOf = clusters({ east: [0, 1], west: [2, 3], north: [4, 5] });
  const partitions = Array.from({ length: 6 }, () => [0, 2, 9]);
  const v = view(partitions, [0, 1, 2, 3, 4, 5], clusterOf);
  const plan = planBalance({ view: v, brokers: [0, 1, 2, 3, 4, 5], clusterOf });
  for (const rs of applied(v, plan)) assert.ok(rs.includes(9));
});

/** A small seeded generator (mulberry32), so a failing layout can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("random layouts: the rule holds, replica counts even out within each cluster, leaders spread", () => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = random(seed);
    const nClusters = 3 + Math.floor(r() * 2);
    const names = ["east", "west", "north", "south"].slice(0, nClusters);
    const layout: Record<string, number[]> = {};
    let id = 0;
    for (const c of names) layout[c] = Array.from({ length: 1 + Math.floor(r() * 3) }, () => id++);
    const clusterOf = clusters(layout);
    const brokers = Object.values(layout).flat();
    const rf = 3;
    // One replica per cluster, each in a random broker of a random choice of clusters.
    const partitions = Array.from({ length: 5 + Math.floor(r() * 40) }, () => {
      const chosen = [...names].sort(() => r() - 0.5).slice(0, rf);
      return chosen.map((c) => {
        const ids = layout[c] ?? [];
        return ids[Math.floor(r() * ids.length)] ?? 0;
      });
    });
    const v = view(partitions, brokers, clusterOf);
    const sizes = new Map(partitions.map((_, i) => [`orders/${String(i)}`, Math.floor(r() * 1e6)]));
    const plan = planBalance({ view: v, brokers, clusterOf, sizes });
    const after = applied(v, plan);
    after.forEach((rs, i) => {
      const was = partitions[i] ?? [];
      assert.equal(rs.length, was.length, `seed ${String(seed)}: replication factor kept`);
      assert.equal(
        new Set(rs).size,
        rs.length,
        `seed ${String(seed)}: a broker twice in ${rs.join(",")}`,
      );
      assert.equal(
        new Set(rs.map(clusterOf)).size,
        rs.length,
        `seed ${String(seed)}: two replicas in one cluster: ${rs.join(",")}`,
      );
    });
    assert.equal(plan.after.placementViolations, 0, `seed ${String(seed)}`);
    // Within a cluster nothing stops a move, so counts end within one.
    assert.ok(plan.after.replicaSpread <= 1, `seed ${String(seed)}: ${JSON.stringify(plan.after)}`);
    assert.ok(
      plan.after.leaderSpread <= plan.before.leaderSpread,
      `seed ${String(seed)}: leaders spread wider`,
    );
    // What the plan reports is what it does.
    const moved = plan.moves.reduce((n, m) => {
      const was = partitions[m.partition] ?? [];
      return n + m.replicas.filter((x) => !was.includes(x)).length;
    }, 0);
    assert.equal(plan.replicasMoved, moved, `seed ${String(seed)}`);
    const bytes = plan.moves.reduce((n, m) => {
      const was = partitions[m.partition] ?? [];
      const added = m.replicas.filter((x) => !was.includes(x)).length;
      return n + added * (sizes.get(`orders/${String(m.partition)}`) ?? 0);
    }, 0);
    assert.equal(plan.bytesToMove, bytes, `seed ${String(seed)}`);
  }
});

test("remove-brokers: every replica leaves the listed broker for one of its own cluster, a batch at a time", () => {
  const clusterOf = clusters({ east: [0, 1], west: [2, 3], north: [4, 5] });
  const partitions = Array.from({ length: 8 }, (_, i) => [i % 2, 2 + (i % 2), 4 + (i % 2)]);
  const v = view(partitions, [0, 1, 2, 3, 4, 5], clusterOf);
  const sizes = new Map(partitions.map((_, i) => [`orders/${String(i)}`, 100]));
  const all = planRebalance("remove-brokers", [0], {
    view: v,
    brokers: [0, 1, 2, 3, 4, 5],
    clusterOf,
    sizes,
  });
  assert.deepEqual(all.stuck, []);
  assert.equal(all.dataMoves, 4);
  assert.equal(all.bytesToMove, 400);
  assert.equal(all.before.replicas["0"], 4);
  assert.equal(all.after.replicas["0"], undefined, "the broker leaving is not figured after");
  assert.equal(all.after.replicas["1"], 8);
  for (const rs of applied(v, all)) {
    assert.ok(!rs.includes(0), `off broker 0: ${rs.join(",")}`);
    assert.equal(new Set(rs.map(clusterOf)).size, 3, `one per cluster: ${rs.join(",")}`);
  }
  const batch = planRebalance("remove-brokers", [0], {
    view: v,
    brokers: [0, 1, 2, 3, 4, 5],
    clusterOf,
    maxDataMoves: 3,
  });
  assert.equal(batch.dataMoves, 3);
  // A cluster whose only broker leaves: nowhere in the cluster, so stuck, named.
  const lone = clusters({ east: [0], west: [2], north: [4] });
  const stuck = planRebalance("remove-brokers", [0], {
    view: view([[0, 2, 4]], [0, 2, 4], lone),
    brokers: [0, 2, 4],
    clusterOf: lone,
  });
  assert.equal(stuck.stuck.length, 1);
  assert.match(stuck.stuck[0] ?? "", /no broker left to take the replica on 0/);
});

test("the modes: full balances over every broker, add-brokers moves only onto those listed", () => {
  const clusterOf = clusters({ east: [0, 1, 6], west: [2, 3], north: [4, 5] });
  const partitions = Array.from({ length: 12 }, () => [0, 2, 4]);
  const v = view(partitions, [0, 1, 2, 3, 4, 5, 6], clusterOf);
  const input = { view: v, brokers: [0, 1, 2, 3, 4, 5, 6], clusterOf };
  const full = planRebalance("full", [], input);
  assert.equal(full.balanced, true);
  assert.ok((full.after.replicas["1"] ?? 0) > 0 && (full.after.replicas["3"] ?? 0) > 0);
  const onto = planRebalance("add-brokers", [6], input);
  assert.equal(onto.after.replicas["1"], 0, "broker 1 is not listed: nothing moves onto it");
  assert.equal(onto.after.replicas["3"], 0);
  assert.equal(onto.after.replicas["6"], 6);
});
