/**
 * The standalone composition engine: what Crossplane does for our types, so
 * that the same function and managed resources run without Crossplane.
 *
 * - Claims (StretchKafka) bind to composites (XStretchKafka) as Crossplane
 *   binds legacy claims: the claim's spec copied to the composite, references
 *   both ways, the claim-name/claim-namespace labels; status and the
 *   connection Secret flow back to the claim. The connection Secrets it
 *   writes are watched (metadata only): one deleted or edited by someone
 *   else is written again at once, not at the next periodic pass.
 * - Composites run their Composition's pipeline; the desired composed
 *   resources are applied with Crossplane's labels, annotation and controller
 *   reference, listed in spec.resourceRefs (what `crossplane beta trace`
 *   walks), and composed resources no longer desired are deleted.
 * - A refused composite (fatal result, or an API server that refuses the
 *   spec) is reported in Synced=False and changes nothing that exists.
 *
 * Finalizers and the claim's resourceRef are merge patches against the
 * version read; everything else is server-side apply by the engine's field
 * managers. Under Crossplane this engine is not run.
 *
 * Split as Crossplane's own claim/ and composite/ packages are: claim.ts,
 * composite.ts, and what both share in context.ts; this file wires the
 * watches to one work queue.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { labels } from "../../apis/index.ts";
import { claimNameLabel, claimNamespaceLabel, compositeLabel } from "../../functions/render.ts";
import type { DynamicClient } from "../kube/dynamic.ts";
import { describeError } from "../kube/errors.ts";
import { objectKey } from "../kube/informer.ts";
import { defaultQueueOptions, WorkQueue, type ReconcileResult } from "../runtime/workqueue.ts";
import { ClaimReconciler } from "./claim.ts";
import { CompositeReconciler } from "./composite.ts";
import {
  claimKey,
  composedGatherMs,
  composedIntervalMs,
  EngineContext,
  xrKey,
  type EngineOptions,
} from "./context.ts";

export {
  compositeNameFor,
  xrApiVersion,
  type Claim,
  type Composite,
  type EngineOptions,
} from "./context.ts";

export class CompositionEngine {
  readonly queue: WorkQueue;
  private readonly ctx: EngineContext;
  private readonly claims: ClaimReconciler;
  private readonly composites: CompositeReconciler;

  constructor(central: DynamicClient, log: Logger, opts: EngineOptions) {
    const ctx = new EngineContext(central, log, opts);
    this.ctx = ctx;
    this.queue = new WorkQueue(
      (key) => this.reconcile(key),
      opts.queue ?? defaultQueueOptions,
      undefined,
      {
        done: (key, ms, outcome, err) => {
          if (outcome === "error")
            log.warn({ key, ms, err: describeError(err) }, "engine reconcile failed; retrying");
        },
      },
    );
    ctx.queue = this.queue;
    this.claims = new ClaimReconciler(ctx);
    this.composites = new CompositeReconciler(ctx);
    ctx.claims.on((_e, c) => {
      this.queue.add(claimKey(c.metadata.namespace ?? "", c.metadata.name ?? ""));
    });
    ctx.composites.on((_e, xr) => {
      this.queue.add(xrKey(xr.metadata.name ?? ""));
      const ref = xr.spec.claimRef;
      if (ref) this.queue.add(claimKey(ref.namespace, ref.name));
    });
    ctx.compositions.on(() => {
      for (const xr of ctx.composites.list()) this.queue.add(xrKey(xr.metadata.name ?? ""));
    });
    // A connection Secret deleted, or written by anyone but this engine (its
    // last write's resourceVersion is known), is written again at once: its
    // owner is reconciled with the Secret's digest forgotten.
    ctx.connectionSecrets.on((event, secret) => {
      const id = `Secret/${objectKey(secret)}`;
      const mine = ctx.applied.get(id);
      if (!mine) return;
      if (event !== "delete" && mine.resourceVersion === secret.metadata.resourceVersion) return;
      ctx.applied.delete(id);
      const l = secret.metadata.labels ?? {};
      const owner =
        l[labels.connectionSecret] === "claim"
          ? claimKey(l[claimNamespaceLabel] ?? "", l[claimNameLabel] ?? "")
          : xrKey(l[compositeLabel] ?? "");
      ctx.log.info(
        { secret: objectKey(secret), event },
        "connection Secret changed by someone else; writing it again",
      );
      this.queue.add(owner);
    });
    for (const informer of ctx.composed.values()) {
      informer.on((_e, obj) => {
        // A composite's resources change in bursts (dozens become Ready within a
        // second): the first change is acted on at once, the rest of a burst
        // in one reconcile at most every composedIntervalMs.
        const xr = obj.metadata.labels?.[compositeLabel];
        if (!xr) return;
        const last = ctx.lastComposed.get(xr) ?? 0;
        this.queue.addAfter(
          xrKey(xr),
          Math.max(composedGatherMs, last + composedIntervalMs - Date.now()),
        );
      });
    }
  }

  private informers(): {
    health(): { synced: boolean };
    start(): Promise<void>;
    stop(): Promise<void>;
  }[] {
    const c = this.ctx;
    return [c.claims, c.composites, c.compositions, ...c.composed.values()];
  }

  get synced(): boolean {
    return this.informers().every((i) => i.health().synced);
  }

  async start(): Promise<void> {
    // Not waited for: without it (its list and watch refused) a changed
    // connection Secret is put back at the periodic pass instead (ADR 0018).
    void this.ctx.connectionSecrets.start();
    await Promise.all(this.informers().map((i) => i.start()));
    this.queue.start();
  }

  async stop(): Promise<void> {
    await this.queue.stop();
    await Promise.all(
      [
        ...this.informers(),
        this.ctx.connectionSecrets,
        ...[...this.ctx.required.values()].map((r) => r.informer),
      ].map((i) => i.stop()),
    );
  }

  private async reconcile(key: string): Promise<ReconcileResult> {
    const [type, ...rest] = key.split("/");
    if (type === "claim") return this.claims.reconcile(rest[0] ?? "", rest[1] ?? "");
    return this.composites.reconcile(rest.join("/"));
  }

  /** Resolves once the queue has nothing to do (tests). */
  async idle(): Promise<void> {
    await this.queue.idle();
    await sleep(0);
  }
}
