/**
 * The guards the real-Kafka tests rely on, each fed a deliberate violation
 * once: `always` fails at the first violation and when it could not sample;
 * the roll watch's ISR and pod checks name what broke.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { always, eventually } from "../../devbed/eventually.ts";
import { isrViolation, podsDown, type IsrSample } from "../kafka/proofs.ts";

test("always: a property that holds throughout passes, with the samples it took", async () => {
  const watch = always("holds", () => undefined, { intervalMs: 10 });
  await watch.during(sleep(100));
  assert.ok((await watch.stop()) >= 3);
});

test("guard: always fails at the first violation, at once, not when the change is over", async () => {
  let n = 0;
  const watch = always("n stays below 3", () => (++n >= 3 ? `n is ${n}` : undefined), {
    intervalMs: 10,
  });
  const started = Date.now();
  await assert.rejects(watch.during(sleep(60_000)), /n stays below 3: violated: n is 3/);
  assert.ok(Date.now() - started < 5_000, "rejected at the violation, not after the minute");
  await assert.rejects(watch.stop(), /violated: n is 3/);
  assert.equal(n, 3, "no sample after the violation");
});

test("guard: always fails when it cannot sample for longer than the gap allowed", async () => {
  const watch = always(
    "samples",
    () => {
      throw new Error("the admin client timed out");
    },
    { intervalMs: 10, maxGapMs: 200 },
  );
  await assert.rejects(
    watch.during(sleep(60_000)),
    /samples: no sample for \d+ s \(last attempt: .*timed out\)/,
  );
  await assert.rejects(watch.stop(), /no sample for/);
});

test("guard: always that never sampled fails on stop, even without a gap", async () => {
  const watch = always("slow", () => sleep(1_000).then(() => undefined), { maxGapMs: 60_000 });
  await assert.rejects(watch.stop(), /slow: no sample/);
});

test("guard: eventually fails naming its wait when a look never answers", async () => {
  const started = Date.now();
  await assert.rejects(
    eventually("the server answers", () => new Promise<true>(() => {}), 0.3, 10),
    /not within 0.3s: the server answers \(the last look had not answered\)/,
  );
  assert.ok(Date.now() - started < 5_000, "bounded by its deadline, not by the look");
});

const sample = (isr: number[][]): IsrSample => ({
  at: 0,
  partitions: isr.map((inSync, partition) => ({
    partition,
    leader: inSync[0] ?? -1,
    replicas: [0, 1, 2],
    isr: inSync,
  })),
});

test("guard: the ISR check names the first partition below the floor; an empty sample is no sample", () => {
  assert.equal(
    isrViolation(
      sample([
        [0, 1, 2],
        [0, 1],
      ]),
      "orders",
      2,
    ),
    undefined,
  );
  assert.equal(
    isrViolation(sample([[0, 1, 2], [1]]), "orders", 2),
    "orders-1 had 1 in sync (1 of 0,1,2)",
  );
  assert.throws(() => isrViolation({ at: 0, partitions: [] }, "orders", 2), /no partitions/);
  assert.throws(() => isrViolation({ at: 0, error: "timeout" }, "orders", 2), /no partitions/);
});

test("guard: a pod deleted and not yet recreated counts as down, as does one not Ready", () => {
  const before = new Map([
    ["east/a", "1"],
    ["west/b", "2"],
    ["north/c", "3"],
  ]);
  const seen = (ready: Record<string, boolean>) =>
    new Map(Object.entries(ready).map(([k, r]) => [k, { uid: "x", ready: r }]));
  assert.equal(podsDown(before, seen({ "east/a": true, "west/b": true, "north/c": true })), 0);
  assert.equal(podsDown(before, seen({ "east/a": true, "north/c": false })), 2);
});
