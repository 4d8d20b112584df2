/**
 * Composites run their Composition's pipeline; the desired composed
 * resources are applied with Crossplane's labels, annotation and controller
 * reference, listed in spec.resourceRefs (what `crossplane beta trace`
 * walks), and composed resources no longer desired are deleted. A refused
 * composite (a fatal result) is reported in Synced=False and changes nothing
 * that exists (Crossplane's own composite/ package).
 */
import { createHash } from "node:crypto";
import {
  RunFunctionRequest,
  Severity,
  Target,
  type ResourceSelector,
} from "@crossplane-org/function-sdk-typescript";
import { labels } from "../../apis/index.ts";
import {
  compositeLabel,
  composedObject,
  compositionResourceName,
  functionConditions,
  engineReadyCondition,
  request,
  type CompositeCondition,
} from "../../functions/render.ts";
import type { KubeObject } from "../kube/dynamic.ts";
import { describeError } from "../kube/errors.ts";
import { covers } from "../provider/desired.ts";
import type { ReconcileResult } from "../runtime/workqueue.ts";
import { runPipeline, type PipelineOutput } from "./pipeline.ts";
import {
  claimKey,
  compositeFinalizer,
  controllerRef,
  defaultPollSeconds,
  digest,
  fmComposite,
  stamped,
  synced,
  isPaused,
  paused,
  type Composite,
  type Condition,
  type EngineContext,
  type Ref,
  type Status,
} from "./context.ts";

export class CompositeReconciler {
  constructor(private readonly ctx: EngineContext) {}

  async reconcile(name: string): Promise<ReconcileResult> {
    const xr = this.ctx.composites.get(name);
    if (!xr) {
      this.ctx.requiredBy.delete(name);
      return undefined;
    }
    if (xr.metadata.deletionTimestamp) return this.deleteComposite(xr);
    // Nothing is composed, applied or deleted; the status says so (as Crossplane).
    if (isPaused(xr)) return this.compositeStatus(xr, paused, undefined);
    this.ctx.lastComposed.set(name, Date.now());
    if (!xr.metadata.finalizers?.includes(compositeFinalizer)) {
      await this.ctx.ensureFinalizer(xr, compositeFinalizer);
      return undefined; // the update event brings the composite back
    }

    const composition = this.ctx.compositionFor(xr);
    if (typeof composition === "string") return this.compositeStatus(xr, composition, undefined);

    const observed = this.ctx.composedOf(name);
    const req = request(xr, observed);
    req.meta = {
      tag: createHash("sha256").update(RunFunctionRequest.encode(req).finish()).digest("hex"),
      capabilities: [],
    };
    const required: ResourceSelector[] = [];
    const out = await runPipeline(
      composition.spec.pipeline ?? [],
      this.ctx.opts.runners,
      req,
      (s) => {
        required.push(s);
        return this.ctx.fetchRequired(s);
      },
    );
    if (required.length > 0) this.ctx.requiredBy.set(name, required);
    else this.ctx.requiredBy.delete(name);
    if (out.fatal.length > 0) {
      const message = `cannot compose resources: ${out.fatal.join("; ")}`;
      await this.ctx.events.record(xr, "Warning", "ComposeResources", message);
      // Nothing is applied or deleted: what runs keeps running.
      return this.compositeStatus(xr, message, undefined);
    }

    const desired = out.desired.resources;
    const wanted = new Set<string>();
    const refs: Ref[] = [];
    const failures: string[] = [];
    await Promise.all(
      Object.entries(desired).map(async ([resName, r]) => {
        const obj = composedObject(xr, resName, r.resource ?? {});
        wanted.add(resName);
        refs.push({ apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name ?? "" });
        try {
          await this.applyComposed(xr, obj);
        } catch (err) {
          failures.push(`${obj.kind} ${obj.metadata.name ?? ""}: ${describeError(err)}`);
        }
      }),
    );
    for (const o of observed) {
      const resName = o.metadata.annotations?.[compositionResourceName];
      if (resName && !wanted.has(resName)) {
        this.ctx.log.info(
          { composite: name, kind: o.kind, name: o.metadata.name },
          "deleting a composed resource no longer desired",
        );
        await this.ctx.central.delete(o.apiVersion, o.kind, o.metadata.name ?? "", undefined, {
          propagationPolicy: "Background",
        });
        this.ctx.applied.delete(`${o.kind}/${o.metadata.name ?? ""}`);
      }
    }
    refs.sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
    if (!xr.spec.compositionRef?.name)
      await this.ctx.events.record(
        xr,
        "Normal",
        "SelectComposition",
        `Successfully selected composition: ${composition.metadata.name ?? ""}`,
      );
    if (digest(refs) !== digest(xr.spec.resourceRefs ?? [])) {
      await this.ctx.central.apply(
        {
          apiVersion: xr.apiVersion,
          kind: xr.kind,
          metadata: { name },
          spec: {
            compositionRef: {
              name: xr.spec.compositionRef?.name ?? composition.metadata.name ?? "",
            },
            resourceRefs: refs,
          },
        },
        { fieldManager: fmComposite },
      );
    }
    const secretChanged = await this.compositeConnectionSecret(
      xr,
      out.desired.composite?.connectionDetails ?? {},
    );
    const claim = xr.spec.claimRef;
    if (secretChanged)
      await this.ctx.events.record(
        xr,
        "Normal",
        "PublishConnectionSecret",
        "Successfully published connection details",
      );
    if (secretChanged && claim) this.ctx.queue.add(claimKey(claim.namespace, claim.name));

    await this.resultEvents(xr, out.results);
    const problem =
      failures.length > 0
        ? `cannot apply ${failures.length} composed resource(s): ${failures.slice(0, 3).join("; ")}`
        : true;
    const status = (out.desired.composite?.resource?.["status"] ?? {}) as Record<string, unknown>;
    const conditions = out.last
      ? [engineReadyCondition(out.last), ...functionConditions(out.last)]
      : [];
    await this.compositeStatus(xr, problem, { fields: status, conditions });
    if (problem !== true) throw new Error(problem);
    return { requeueAfterMs: (out.ttlSeconds ?? defaultPollSeconds) * 1000 };
  }

  /**
   * The pipeline's results as events, as Crossplane records them: on the
   * composite with the step named, and on the claim too where the result
   * targets both. A result repeated by every reconcile counts up one event.
   */
  private async resultEvents(xr: Composite, results: PipelineOutput["results"]): Promise<void> {
    const claimRef = xr.spec.claimRef;
    const claim = claimRef
      ? this.ctx.claims.get(`${claimRef.namespace}/${claimRef.name}`)
      : undefined;
    for (const { step, result: r } of results) {
      if (r.severity === Severity.SEVERITY_FATAL) continue;
      const type = r.severity === Severity.SEVERITY_NORMAL ? "Normal" : "Warning";
      const reason = r.reason || "ComposeResources";
      await this.ctx.events.record(xr, type, reason, `Pipeline step "${step}": ${r.message}`);
      if (claim && r.target === Target.TARGET_COMPOSITE_AND_CLAIM)
        await this.ctx.events.record(claim, type, reason, r.message);
    }
  }

  /**
   * Applies one composed resource, unless it is unchanged since this engine
   * last applied it. One that belongs to another composite is refused.
   */
  private async applyComposed(xr: Composite, obj: KubeObject): Promise<void> {
    const id = `${obj.kind}/${obj.metadata.name ?? ""}`;
    const existing = this.ctx.composed.get(obj.kind)?.get(obj.metadata.name ?? "");
    const d = digest(obj);
    // Level-based: skipped only while what is there still holds everything
    // asked for; a hand edit of a composed resource is put back.
    if (existing && this.ctx.applied.get(id)?.digest === d && covers(existing, obj)) return;
    const owner = existing?.metadata.labels?.[compositeLabel];
    if (existing && owner !== xr.metadata.name) {
      throw new Error(
        `it exists already and belongs to composite ${owner ?? "(none)"}; not taking it over`,
      );
    }
    // Not seen as ours: created without force, so an object someone else made
    // under that name is a conflict reported here, not silently taken over.
    await this.ctx.central.apply(obj, { fieldManager: fmComposite, force: existing !== undefined });
    this.ctx.mark(id, d);
  }

  /** Writes the composite's connection Secret; true when its data changed. */
  private async compositeConnectionSecret(
    xr: Composite,
    details: Record<string, Buffer>,
  ): Promise<boolean> {
    const ref = xr.spec.writeConnectionSecretToRef;
    if (!ref) return false;
    const data = Object.fromEntries(
      Object.entries(details).map(([k, v]) => [k, Buffer.from(v).toString("base64")]),
    );
    this.ctx.connections.set(xr.metadata.name ?? "", data);
    const changed = await this.ctx.applySecret(
      {
        apiVersion: "v1",
        kind: "Secret",
        type: "connection.crossplane.io/v1alpha1",
        metadata: {
          name: ref.name,
          namespace: ref.namespace,
          labels: {
            [compositeLabel]: xr.metadata.name ?? "",
            [labels.connectionSecret]: "composite",
          },
          ownerReferences: [controllerRef(xr)],
        },
        data,
      },
      fmComposite,
      digest(data),
    );
    return changed === true;
  }

  private async compositeStatus(
    xr: Composite,
    ok: true | string | typeof paused,
    composed: { fields: Record<string, unknown>; conditions: CompositeCondition[] } | undefined,
  ): Promise<ReconcileResult> {
    const { conditions: prev, ...prevFields } = xr.status ?? {};
    // A refusal keeps the last good status (node ids above all) and says why.
    const fields = composed?.fields ?? prevFields;
    const rest = composed?.conditions ?? (prev ?? []).filter((c) => c.type !== "Synced");
    const next = [synced(ok), ...rest.map(({ lastTransitionTime: _t, ...c }: Condition) => c)];
    const status: Status = { ...fields, conditions: stamped(next, prev, this.ctx.now()) };
    if (digest(status) !== digest(xr.status ?? {})) {
      await this.ctx.central.apply(
        {
          apiVersion: xr.apiVersion,
          kind: xr.kind,
          metadata: { name: xr.metadata.name ?? "" },
          status,
        },
        { fieldManager: fmComposite, subresource: "status" },
      );
    }
    // A paused composite comes back when the annotation goes (an update event).
    return ok === true || ok === paused ? undefined : { requeueAfterMs: 30_000 };
  }

  private async deleteComposite(xr: Composite): Promise<ReconcileResult> {
    const name = xr.metadata.name ?? "";
    const left = this.ctx.composedOf(name);
    for (const o of left) {
      this.ctx.applied.delete(`${o.kind}/${o.metadata.name ?? ""}`);
      if (o.metadata.deletionTimestamp) continue;
      await this.ctx.central.delete(o.apiVersion, o.kind, o.metadata.name ?? "", undefined, {
        propagationPolicy: "Background",
      });
    }
    if (left.length > 0) return { requeueAfterMs: 2000 };
    this.ctx.applied.delete(`XStretchKafka/${name}`);
    this.ctx.connections.delete(name);
    this.ctx.lastComposed.delete(name);
    await this.ctx.removeFinalizer(xr, compositeFinalizer);
    return undefined;
  }
}
