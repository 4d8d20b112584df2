/**
 * Waiting on the world, the two ways a test needs: `eventually` waits for a
 * condition to hold; `always` checks that a property holds throughout a
 * change (a "never" is the same: its check names what must never happen),
 * fails at the first violation, and fails when it could not look.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describeError } from "../controller/kube/errors.ts";

/** Waits for a condition in the world: f returns a value when it holds, undefined (or throws) while it does not. */
export async function eventually<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  seconds = 60,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown;
  for (;;) {
    // A look that never answers (a fetch to a port nobody serves, a hung
    // request) is bounded by the deadline too, so the wait fails naming itself.
    const stalled = Symbol("stalled");
    const timer = new AbortController();
    try {
      const v = await Promise.race([
        Promise.resolve().then(f),
        sleep(Math.max(0, deadline - Date.now()) + intervalMs, stalled, { signal: timer.signal }),
      ]);
      if (v === stalled) last = new Error("the last look had not answered");
      else if (v !== undefined) return v;
    } catch (err) {
      last = err;
    } finally {
      timer.abort();
    }
    if (Date.now() > deadline) {
      assert.fail(
        `not within ${seconds}s: ${what}${last === undefined ? "" : ` (${describeError(last)})`}`,
      );
    }
    await sleep(intervalMs);
  }
}

export interface AlwaysOptions {
  /** How often the property is looked at (default 500 ms). */
  intervalMs?: number;
  /** The longest stretch without a sample that counts as watching throughout (default 10 s). */
  maxGapMs?: number;
  /** How long the first sample may take (a sampler starting up; default `maxGapMs`). */
  firstSampleWithinMs?: number;
}

/**
 * A property that must hold throughout, looked at every `intervalMs` from
 * `always()` until `stop()`. `check` returns undefined while it holds, or
 * what violates it; a check that throws is a sample missed. The watch fails
 * at the first violation, when more than `maxGapMs` pass without a sample
 * (`firstSampleWithinMs` for the first), and when it stops having taken
 * none: a watch that could not look proves nothing.
 */
export class Always {
  /** Samples taken (checks that answered). */
  samples = 0;
  private failure: Error | undefined;
  private lastSample = Date.now();
  private lastMiss: string | undefined;
  private running = true;
  private readonly loop: Promise<void>;
  private readonly failed: Promise<never>;
  private rejectFailed: (err: Error) => void = () => undefined;

  constructor(
    readonly what: string,
    private readonly check: () => Promise<string | undefined> | string | undefined,
    private readonly o: AlwaysOptions = {},
  ) {
    this.failed = new Promise<never>((_, reject) => {
      this.rejectFailed = reject;
    });
    // Reported by during() and stop(); a watch nobody waits on must not crash the process.
    this.failed.catch(reportedByStop);
    this.loop = this.run();
  }

  private get maxGapMs(): number {
    return this.o.maxGapMs ?? 10_000;
  }

  private fail(message: string): void {
    if (this.failure) return;
    this.failure = new assert.AssertionError({ message: `${this.what}: ${message}` });
    this.running = false;
    this.rejectFailed(this.failure);
  }

  private gapCheck(): void {
    const gap = Date.now() - this.lastSample;
    const allowed =
      this.samples === 0 ? (this.o.firstSampleWithinMs ?? this.maxGapMs) : this.maxGapMs;
    if (gap > allowed)
      this.fail(
        `no sample for ${Math.round(gap / 1000)} s${this.lastMiss ? ` (last attempt: ${this.lastMiss})` : ""}`,
      );
  }

  private async run(): Promise<void> {
    const interval = this.o.intervalMs ?? 500;
    while (this.running) {
      const started = Date.now();
      try {
        const violation = await this.check();
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may have run during the check
        if (!this.running) break;
        if (violation !== undefined) {
          this.fail(`violated: ${violation}`);
          break;
        }
        this.samples++;
        this.lastSample = Date.now();
      } catch (err) {
        this.lastMiss = describeError(err);
      }
      this.gapCheck();
      await sleep(Math.max(0, interval - (Date.now() - started)));
    }
  }

  /** `p`, unless the property is violated (or could not be watched) first: then that failure, at once. */
  during<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.failed]);
  }

  /** Stops watching; throws the first failure, or if it never sampled. Returns the samples taken. */
  async stop(): Promise<number> {
    if (this.running) this.gapCheck();
    this.running = false;
    await this.loop;
    if (this.failure) throw this.failure;
    if (this.samples === 0) throw new assert.AssertionError({ message: `${this.what}: no sample` });
    return this.samples;
  }
}

function reportedByStop(): void {
  // The failure is thrown by during() and stop().
}

/** Starts watching a property that must hold throughout (see Always). */
export function always(
  what: string,
  check: () => Promise<string | undefined> | string | undefined,
  o?: AlwaysOptions,
): Always {
  return new Always(what, check, o);
}
