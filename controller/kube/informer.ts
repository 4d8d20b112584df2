/**
 * An informer: lists a collection, then watches it from the list's
 * resourceVersion and keeps a cache. It never stops on its own: a dropped
 * connection is re-watched after a backoff, an expired resourceVersion (410
 * Gone) is re-listed and the cache diffed so that nothing that happened in the
 * gap is missed (deletes included). Its health (synced, last error) is readable
 * so callers can report an unreachable cluster. No periodic re-list: a steady
 * state costs one open watch and nothing else. A handler that throws is
 * logged, counted in the health and given the same event again after a
 * backoff until it takes it: no event is dropped because a handler failed.
 */
import type { Logger } from "pino";
import { realClock, type Clock } from "../runtime/workqueue.ts";
import {
  DynamicClient,
  KubeApiError,
  type KubeObject,
  type KubeResource,
  type WatchEvent,
} from "./dynamic.ts";
import { apiErrorIn, describeError } from "./errors.ts";

export type InformerEvent = "add" | "update" | "delete";
export type InformerHandler<T> = (event: InformerEvent, obj: T, old?: T) => void;

export interface InformerOptions {
  apiVersion: string;
  kind: string;
  namespace?: string;
  labelSelector?: string;
  /** Only objects whose fields match (an object leaving the selection is seen deleted). */
  fieldSelector?: string;
  /** Objects' metadata only (PartialObjectMetadata), under the informer's apiVersion and kind. */
  metadataOnly?: boolean;
  /** Server-side watch timeout; the watch is renewed after it. */
  watchTimeoutSeconds?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface InformerHealth {
  synced: boolean;
  connected: boolean;
  lastError?: string;
  /** Events a handler threw on and that wait to be delivered again. */
  undelivered: number;
  /** The last handler failure. */
  lastHandlerError?: string;
}

export function objectKey(o: KubeResource): string {
  return o.metadata.namespace
    ? `${o.metadata.namespace}/${o.metadata.name ?? ""}`
    : (o.metadata.name ?? "");
}

export class Informer<T extends KubeResource = KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly relisted: (() => void)[] = [];
  private readonly disconnected: (() => void)[] = [];
  private resourceVersion = "";
  private abort = new AbortController();
  private stopped = false;
  private loop: Promise<void> | undefined;
  private syncedOnce: (() => void) | undefined;
  private readonly state: InformerHealth = { synced: false, connected: false, undelivered: 0 };
  /** Cancels the pending deliveries of events a handler threw on. */
  private readonly redeliveries = new Set<() => void>();

  constructor(
    private readonly client: DynamicClient,
    private readonly opts: InformerOptions,
    private readonly log: Logger,
    private readonly clock: Clock = realClock,
  ) {}

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  /** Calls fn after every full list: the first one and each after an outage or expiry. */
  onRelist(fn: () => void): void {
    this.relisted.push(fn);
  }

  /** Calls fn whenever the watch fails (the cluster may be unreachable). */
  onDisconnect(fn: () => void): void {
    this.disconnected.push(fn);
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  health(): InformerHealth {
    return { ...this.state };
  }

  /** Starts; resolves once the first list has filled the cache. */
  start(): Promise<void> {
    const synced = new Promise<void>((resolve) => (this.syncedOnce = resolve));
    this.loop = this.run();
    return synced;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const cancel of this.redeliveries) cancel();
    this.redeliveries.clear();
    this.abort.abort();
    this.syncedOnce?.();
    await this.loop;
  }

  private emit(event: InformerEvent, obj: T, old?: T): void {
    for (const h of this.handlers) this.deliver(h, event, obj, old, 0);
  }

  /** Calls a handler; when it throws, calls it again with the same event after a backoff. */
  private deliver(
    h: InformerHandler<T>,
    event: InformerEvent,
    obj: T,
    old: T | undefined,
    attempt: number,
  ): void {
    try {
      h(event, obj, old);
    } catch (err) {
      const min = this.opts.minBackoffMs ?? 1000;
      const delayMs = Math.min(this.opts.maxBackoffMs ?? 30_000, min * 2 ** attempt);
      this.state.lastHandlerError = `${event} of ${objectKey(obj)}: ${describeError(err)}`;
      this.log.error(
        { err, kind: this.opts.kind, key: objectKey(obj), event, attempt, retryInMs: delayMs },
        "informer handler failed; it gets the event again",
      );
      if (this.stopped) return;
      this.state.undelivered++;
      const cancel = this.clock.after(delayMs, () => {
        this.redeliveries.delete(cancel);
        this.state.undelivered--;
        if (!this.stopped) this.deliver(h, event, obj, old, attempt + 1);
      });
      this.redeliveries.add(cancel);
    }
  }

  /** Replaces the cache with a fresh list, emitting what changed. */
  private async relist(): Promise<void> {
    const list = await this.client.list<T>(this.opts.apiVersion, this.opts.kind, {
      ...(this.opts.namespace ? { namespace: this.opts.namespace } : {}),
      ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
      ...(this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : {}),
      ...(this.opts.metadataOnly ? { metadataOnly: true } : {}),
    });
    const seen = new Set<string>();
    for (const item of list.items) {
      // Lists leave apiVersion/kind off their items.
      const obj = { ...item, apiVersion: this.opts.apiVersion, kind: this.opts.kind } as T;
      const key = objectKey(obj);
      seen.add(key);
      const old = this.cache.get(key);
      this.cache.set(key, obj);
      if (!old) this.emit("add", obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion)
        this.emit("update", obj, old);
    }
    for (const [key, old] of this.cache) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.emit("delete", old);
      }
    }
    this.resourceVersion = list.metadata.resourceVersion ?? "";
    this.state.synced = true;
    this.syncedOnce?.();
    this.syncedOnce = undefined;
    for (const fn of this.relisted) fn();
  }

  private handle(ev: WatchEvent<T>): void {
    if (ev.type === "ERROR") {
      const status = ev.object as unknown as { code?: number; message?: string; reason?: string };
      throw new KubeApiError(
        status.code ?? 500,
        status.reason ?? "",
        status.message ?? "",
        undefined,
        "watch",
      );
    }
    const rv = ev.object.metadata.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (ev.type === "BOOKMARK") return;
    const obj = this.opts.metadataOnly
      ? ({ ...ev.object, apiVersion: this.opts.apiVersion, kind: this.opts.kind } as T)
      : ev.object;
    const key = objectKey(obj);
    const old = this.cache.get(key);
    if (ev.type === "DELETED") {
      this.cache.delete(key);
      this.emit("delete", obj);
    } else {
      this.cache.set(key, obj);
      this.emit(old ? "update" : "add", obj, old);
    }
  }

  private async run(): Promise<void> {
    const min = this.opts.minBackoffMs ?? 1000;
    const max = this.opts.maxBackoffMs ?? 30_000;
    let backoff = min;
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        this.state.connected = true;
        await this.client.watch<T>(this.opts.apiVersion, this.opts.kind, {
          ...(this.opts.namespace ? { namespace: this.opts.namespace } : {}),
          ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
          ...(this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : {}),
          resourceVersion: this.resourceVersion,
          timeoutSeconds: this.opts.watchTimeoutSeconds ?? 300,
          signal: this.abort.signal,
          ...(this.opts.metadataOnly ? { metadataOnly: true } : {}),
          onEvent: (ev) => {
            this.handle(ev);
          },
        });
        // The server ended the watch normally: watch again from where it left off.
        backoff = min;
        delete this.state.lastError;
      } catch (err) {
        if (this.abort.signal.aborted) break;
        const wasConnected = this.state.connected;
        this.state.connected = false;
        this.state.lastError = describeError(err);
        if (wasConnected) for (const fn of this.disconnected) fn();
        if (apiErrorIn(err)?.code === 410) {
          // Our resourceVersion is too old: the gap must be re-listed.
          needList = true;
          this.log.info({ kind: this.opts.kind }, "watch expired; listing again");
          continue;
        }
        this.log.warn(
          {
            kind: this.opts.kind,
            server: this.client.server,
            err: this.state.lastError,
            backoffMs: backoff,
          },
          "watch failed; retrying",
        );
        await new Promise<void>((resolve) => {
          const cancel = this.clock.after(backoff, resolve);
          this.abort.signal.addEventListener(
            "abort",
            () => {
              cancel();
              resolve();
            },
            { once: true },
          );
        });
        backoff = Math.min(max, backoff * 2);
        // After an outage the events in between may be gone: list again.
        needList = true;
      }
    }
    this.state.connected = false;
  }
}
