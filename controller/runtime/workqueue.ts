/**
 * A work queue with controller-runtime's contract: it holds keys, never
 * objects; a key queued twice is processed once; a key is never processed by
 * two workers at once (added while in flight, it runs again afterwards);
 * failures are retried with per-key exponential backoff up to a cap, and
 * retries share a global token bucket; a TerminalError is not retried.
 * N reconciles run at once. Clock and timers are injected so tests control them.
 */

/** What a reconcile asks for: nothing (done), or to run again after a delay. */
export type ReconcileResult = undefined | { requeueAfterMs: number };

/** An error that retrying cannot fix (bad input): logged, not retried. */
export class TerminalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TerminalError";
  }
}

export interface Clock {
  now(): number;
  /** Calls fn after ms; returns a function that cancels it. */
  after(ms: number, fn: () => void): () => void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => {
      clearTimeout(t);
    };
  },
};

export interface QueueOptions {
  /** Reconciles running at once. */
  concurrency: number;
  /** First retry delay; doubles per consecutive failure of a key. */
  baseDelayMs: number;
  /** Longest retry delay. */
  maxDelayMs: number;
  /** Retries across all keys: sustained rate and burst (token bucket). */
  retriesPerSecond: number;
  retryBurst: number;
}

export const defaultQueueOptions: QueueOptions = {
  concurrency: 8,
  baseDelayMs: 250,
  maxDelayMs: 60_000,
  retriesPerSecond: 20,
  retryBurst: 100,
};

export interface QueueEvents {
  /** A reconcile finished: how long it took and how it ended. */
  done?(
    key: string,
    ms: number,
    outcome: "success" | "requeue" | "error" | "terminal",
    err?: unknown,
  ): void;
}

/** A reconcile: resolves when done (optionally asking to run again later) or throws. */
export type Reconcile = (key: string) => Promise<ReconcileResult> | Promise<void>;

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly inFlight = new Set<string>();
  /** Keys added again while in flight. */
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; cancel: () => void }>();
  private tokens: number;
  private lastRefill: number;
  private running = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly reconcile: Reconcile,
    private readonly opts: QueueOptions = defaultQueueOptions,
    private readonly clock: Clock = realClock,
    private readonly events: QueueEvents = {},
  ) {
    this.tokens = opts.retryBurst;
    this.lastRefill = clock.now();
  }

  /** Keys waiting to run now (excludes delayed and in-flight ones). */
  get depth(): number {
    return this.queue.length;
  }

  /** Queues a key to run as soon as a worker is free. */
  add(key: string): void {
    const timer = this.timers.get(key);
    if (timer) {
      timer.cancel();
      this.timers.delete(key);
    }
    if (this.inFlight.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Queues a key after a delay; an earlier pending delay for it wins. */
  addAfter(key: string, ms: number): void {
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    existing?.cancel();
    const cancel = this.clock.after(ms, () => {
      this.timers.delete(key);
      this.add(key);
    });
    this.timers.set(key, { at, cancel });
  }

  start(): void {
    this.running = true;
    this.pump();
  }

  /** Stops taking work and resolves when the reconciles in flight have finished. */
  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
    await this.idle();
  }

  /** Resolves when nothing is queued or in flight (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.inFlight.size === 0 && (this.queue.length === 0 || !this.running))
      return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** How long the next retry of a key waits: per-key backoff, and the global bucket. */
  retryDelay(key: string): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const perKey = Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** (n - 1));
    const now = this.clock.now();
    this.tokens = Math.min(
      this.opts.retryBurst,
      this.tokens + ((now - this.lastRefill) / 1000) * this.opts.retriesPerSecond,
    );
    this.lastRefill = now;
    this.tokens -= 1;
    const bucket = this.tokens >= 0 ? 0 : (-this.tokens / this.opts.retriesPerSecond) * 1000;
    return Math.max(perKey, bucket);
  }

  private pump(): void {
    while (this.running && this.inFlight.size < this.opts.concurrency && this.queue.length > 0) {
      const key = this.queue.shift();
      if (key === undefined) break;
      this.queued.delete(key);
      this.inFlight.add(key);
      void this.work(key);
    }
    this.maybeIdle();
  }

  private async work(key: string): Promise<void> {
    const started = this.clock.now();
    try {
      const result = (await this.reconcile(key)) as ReconcileResult;
      if (result && result.requeueAfterMs > 0) {
        this.failures.delete(key);
        this.events.done?.(key, this.clock.now() - started, "requeue");
        this.finish(key);
        this.addAfter(key, result.requeueAfterMs);
        return;
      }
      this.failures.delete(key);
      this.events.done?.(key, this.clock.now() - started, "success");
      this.finish(key);
    } catch (err) {
      if (err instanceof TerminalError) {
        this.failures.delete(key);
        this.events.done?.(key, this.clock.now() - started, "terminal", err);
        this.finish(key);
        return;
      }
      this.events.done?.(key, this.clock.now() - started, "error", err);
      const delay = this.retryDelay(key);
      this.finish(key);
      if (this.running) this.addAfter(key, delay);
    }
  }

  private finish(key: string): void {
    this.inFlight.delete(key);
    if (this.dirty.delete(key)) {
      this.queued.add(key);
      this.queue.push(key);
    }
    this.pump();
  }

  private maybeIdle(): void {
    if (this.inFlight.size === 0 && (this.queue.length === 0 || !this.running)) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
