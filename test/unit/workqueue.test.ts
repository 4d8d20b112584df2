/** The work queue's contract, with a clock the test moves by hand. */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  TerminalError,
  WorkQueue,
  type Clock,
  type QueueOptions,
  type ReconcileResult,
} from "../../controller/runtime/workqueue.ts";

class FakeClock implements Clock {
  t = 0;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];
  now(): number {
    return this.t;
  }
  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + ms, fn, live: true };
    this.timers.push(timer);
    return () => {
      timer.live = false;
    };
  }
  /** Moves time forward, firing due timers in order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const due = this.timers.filter((x) => x.live && x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = due.at;
      due.live = false;
      due.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

/** Lets queued promise callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

const opts: QueueOptions = {
  concurrency: 2,
  baseDelayMs: 100,
  maxDelayMs: 1000,
  retriesPerSecond: 1000,
  retryBurst: 1000,
};

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test("a key queued several times runs once", async () => {
  const runs: string[] = [];
  const q = new WorkQueue(
    (k) => {
      runs.push(k);
      return Promise.resolve(undefined);
    },
    opts,
    new FakeClock(),
  );
  q.add("a");
  q.add("a");
  q.add("b");
  q.add("a");
  q.start();
  await q.idle();
  assert.deepEqual(runs, ["a", "b"]);
});

test("a key is never processed twice at once, and an add during processing runs it again after", async () => {
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  const gate = deferred();
  const q = new WorkQueue(
    async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      runs++;
      if (runs === 1) await gate.promise;
      active--;
    },
    opts,
    new FakeClock(),
  );
  q.start();
  q.add("a");
  await settle();
  q.add("a");
  q.add("a");
  gate.resolve();
  await q.idle();
  assert.equal(maxActive, 1);
  assert.equal(runs, 2);
});

test("no more than `concurrency` reconciles run at once", async () => {
  let active = 0;
  let maxActive = 0;
  const gates = [deferred(), deferred(), deferred(), deferred(), deferred()];
  let i = 0;
  const q = new WorkQueue(
    async () => {
      const g = gates[i++];
      active++;
      maxActive = Math.max(maxActive, active);
      await g?.promise;
      active--;
    },
    opts,
    new FakeClock(),
  );
  q.start();
  for (const k of ["a", "b", "c", "d", "e"]) q.add(k);
  await settle();
  assert.equal(active, 2);
  for (const g of gates) {
    g.resolve();
    await settle();
  }
  await q.idle();
  assert.equal(maxActive, 2);
});

test("failures back off exponentially per key, up to the cap, and success resets it", async () => {
  const clock = new FakeClock();
  const at: number[] = [];
  let fail = true;
  const q = new WorkQueue(
    (): Promise<ReconcileResult> => {
      at.push(clock.now());
      return fail
        ? Promise.reject(new Error("remote cluster unreachable"))
        : Promise.resolve(undefined);
    },
    opts,
    clock,
  );
  q.start();
  q.add("a");
  await clock.advance(3000);
  // 0, +100, +200, +400, +800, then capped at 1000.
  assert.deepEqual(at.slice(0, 7), [0, 100, 300, 700, 1500, 2500]);
  fail = false;
  await clock.advance(1000);
  const succeededAt = at.at(-1) ?? NaN;
  fail = true;
  q.add("a");
  await clock.advance(150);
  // Fails at once, then retries after the base delay again, not the cap.
  assert.deepEqual(at.slice(-2), [clock.now() - 150, clock.now() - 50]);
  assert.ok(succeededAt < clock.now() - 150);
  await q.stop();
});

test("a terminal error is not retried; requeueAfter runs the key again later", async () => {
  const clock = new FakeClock();
  const runs: string[] = [];
  const q = new WorkQueue(
    (k): Promise<ReconcileResult> => {
      runs.push(k);
      if (k === "bad")
        return Promise.reject(new TerminalError("spec.forProvider.manifest: invalid"));
      const first = k === "later" && runs.filter((r) => r === "later").length === 1;
      return Promise.resolve(first ? { requeueAfterMs: 500 } : undefined);
    },
    opts,
    clock,
  );
  q.start();
  q.add("bad");
  q.add("later");
  await clock.advance(10_000);
  assert.deepEqual(
    runs.filter((r) => r === "bad"),
    ["bad"],
  );
  assert.deepEqual(
    runs.filter((r) => r === "later"),
    ["later", "later"],
  );
  await q.stop();
});

test("retries of all keys share a token bucket", () => {
  const clock = new FakeClock();
  const q = new WorkQueue(
    () => Promise.resolve(undefined),
    { ...opts, retriesPerSecond: 2, retryBurst: 2 },
    clock,
  );
  // Two retries fit in the burst; the third waits for a token (0.5 s at 2/s).
  assert.equal(q.retryDelay("a"), 100);
  assert.equal(q.retryDelay("b"), 100);
  assert.equal(q.retryDelay("c"), 500);
});

test("stop waits for the reconciles in flight and starts no new ones", async () => {
  const gate = deferred();
  const runs: string[] = [];
  const q = new WorkQueue(
    async (k) => {
      runs.push(k);
      await gate.promise;
    },
    { ...opts, concurrency: 1 },
    new FakeClock(),
  );
  q.start();
  q.add("a");
  q.add("b");
  await settle();
  let stopped = false;
  const stopping = q.stop().then(() => (stopped = true));
  await settle();
  assert.equal(stopped, false);
  gate.resolve();
  await stopping;
  assert.deepEqual(runs, ["a"]);
});
