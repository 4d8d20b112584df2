/**
 * The standalone composition engine: what Crossplane does for our types, so
 * that the same function and managed resources run without Crossplane.
 *
 * - Claims (StretchKafka) bind to composites (XStretchKafka) as Crossplane
 *   binds legacy claims: the claim's spec copied to the composite, references
 *   both ways, the claim-name/claim-namespace labels; status and the
 *   connection Secret flow back to the claim.
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
 */
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import {
  RunFunctionRequest,
  Severity,
  Target,
  type ResourceSelector,
} from "@crossplane-org/function-sdk-typescript";
import type { Logger } from "pino";
import { connectionSecretKeys, groups } from "../../apis/index.ts";
import pick from "lodash/pick.js";
import {
  claimNameLabel,
  claimNamespaceLabel,
  compositeLabel,
  composedObject,
  compositionResourceName,
  functionConditions,
  matching,
  readyCondition,
  request,
  type CompositeCondition,
} from "../../functions/render.ts";
import {
  DynamicClient,
  KubeApiError,
  type KubeObject,
  type OwnerReference,
} from "../kube/dynamic.ts";
import { describeError } from "../kube/errors.ts";
import { EventRecorder } from "../kube/events.ts";
import { Informer, objectKey } from "../kube/informer.ts";
import { covers } from "../provider/desired.ts";
import { kinds } from "../provider/kinds.ts";
import {
  defaultQueueOptions,
  WorkQueue,
  type QueueOptions,
  type ReconcileResult,
} from "../runtime/workqueue.ts";
import {
  runPipeline,
  type FunctionRunner,
  type PipelineOutput,
  type PipelineStep,
} from "./pipeline.ts";

export const xrApiVersion = groups.composite;
const claimFinalizer = "finalizer.apiextensions.crossplane.io";
const compositeFinalizer = "composite.apiextensions.crossplane.io";
/** Field managers: the claim's copy of the spec; the composite's own fields. */
const fmClaim = "stretch-kafka-engine/claim";
const fmComposite = "stretch-kafka-engine/composite";
/** Composed resources' changes reach their composite after this, gathering a burst's start... */
const composedGatherMs = 100;
/** ...and then at most this often, so a burst costs a few status writes, not one per resource. */
const composedIntervalMs = 2000;
/** How often a settled composite is composed again when the function asks for no TTL. */
const defaultPollSeconds = 60;

interface Condition extends CompositeCondition {
  lastTransitionTime?: string;
}

interface Status extends Record<string, unknown> {
  conditions?: Condition[];
  connectionDetails?: { lastPublishedTime?: string };
}

interface Ref {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface Claim extends KubeObject {
  spec: Record<string, unknown> & {
    resourceRef?: Ref;
    writeConnectionSecretToRef?: { name: string };
    compositeDeletePolicy?: "Background" | "Foreground";
    compositionRef?: { name: string };
  };
  status?: Status;
}

export interface Composite extends KubeObject {
  spec: Record<string, unknown> & {
    claimRef?: Ref;
    compositionRef?: { name: string };
    resourceRefs?: Ref[];
    writeConnectionSecretToRef?: { name: string; namespace: string };
  };
  status?: Status;
}

interface Composition extends KubeObject {
  spec: {
    compositeTypeRef: { apiVersion: string; kind: string };
    mode?: string;
    pipeline?: PipelineStep[];
    writeConnectionSecretsToNamespace?: string;
  };
}

export interface EngineOptions {
  /** Functions by name (the Composition's functionRef). */
  runners: ReadonlyMap<string, FunctionRunner>;
  queue?: QueueOptions;
  /** Composites' connection Secrets go here when the Composition names no namespace. */
  namespace: string;
  now?: () => string;
  /**
   * How long an unchanged connection Secret or composite goes without being
   * applied again (default 60 s, Crossplane's poll interval): the engine
   * cannot read Secrets (least privilege), so one deleted or edited by hand is
   * put back when this has passed.
   */
  resyncMs?: number;
}

const claimKey = (ns: string, name: string): string => `claim/${ns}/${name}`;
const xrKey = (name: string): string => `xr/${name}`;
const digest = (v: unknown): string => createHash("sha256").update(JSON.stringify(v)).digest("hex");

/** A controller reference to `owner`: the garbage collector removes what it owns with it. */
function controllerRef(owner: KubeObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name ?? "",
    uid: owner.metadata.uid ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The composite a claim binds to: stable for the claim's lifetime, unique per claim. */
export function compositeNameFor(claim: KubeObject): string {
  const uid = claim.metadata.uid ?? "";
  return `${claim.metadata.name ?? ""}-${createHash("sha256").update(uid).digest("hex").slice(0, 5)}`;
}

/** Conditions keep their lastTransitionTime while their status stays. */
function stamped(
  next: CompositeCondition[],
  prev: Condition[] | undefined,
  now: string,
): Condition[] {
  return next.map((c) => {
    const p = prev?.find((x) => x.type === c.type);
    return {
      ...c,
      lastTransitionTime: p?.status === c.status ? (p.lastTransitionTime ?? now) : now,
    };
  });
}

const synced = (ok: true | string): CompositeCondition =>
  ok === true
    ? { type: "Synced", status: "True", reason: "ReconcileSuccess" }
    : { type: "Synced", status: "False", reason: "ReconcileError", message: ok };

export class CompositionEngine {
  readonly queue: WorkQueue;
  private readonly claims: Informer<Claim>;
  private readonly composites: Informer<Composite>;
  private readonly compositions: Informer<Composition>;
  private readonly composed = new Map<string, Informer>();
  /** When each composite was last composed (ms since epoch). */
  private readonly lastComposed = new Map<string, number>();
  /** Each composite's connection details (base64), as last written. */
  private readonly connections = new Map<string, Record<string, string>>();
  /** Kinds functions have required, cached. */
  private readonly required = new Map<string, { informer: Informer; synced: Promise<void> }>();
  private readonly events: EventRecorder;
  /** Digest of what was last applied per object, and when: unchanged objects cost no request until resyncMs. */
  private readonly applied = new Map<string, { digest: string; at: number }>();
  private readonly resyncMs: number;
  private readonly now: () => string;

  constructor(
    private readonly central: DynamicClient,
    private readonly log: Logger,
    private readonly opts: EngineOptions,
  ) {
    this.now = opts.now ?? ((): string => new Date().toISOString().replace(/\.\d+Z$/, "Z"));
    this.resyncMs = opts.resyncMs ?? defaultPollSeconds * 1000;
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
    this.events = new EventRecorder(central, "stretch-kafka-engine", log);
    this.claims = new Informer<Claim>(
      central,
      { apiVersion: xrApiVersion, kind: "StretchKafka" },
      log,
    );
    this.claims.on((_e, c) => {
      this.queue.add(claimKey(c.metadata.namespace ?? "", c.metadata.name ?? ""));
    });
    this.composites = new Informer<Composite>(
      central,
      { apiVersion: xrApiVersion, kind: "XStretchKafka" },
      log,
    );
    this.composites.on((_e, xr) => {
      this.queue.add(xrKey(xr.metadata.name ?? ""));
      const ref = xr.spec.claimRef;
      if (ref) this.queue.add(claimKey(ref.namespace ?? "", ref.name));
    });
    this.compositions = new Informer<Composition>(
      central,
      { apiVersion: "apiextensions.crossplane.io/v1", kind: "Composition" },
      log,
    );
    this.compositions.on(() => {
      for (const xr of this.composites.list()) this.queue.add(xrKey(xr.metadata.name ?? ""));
    });
    for (const k of kinds) {
      const informer = new Informer(
        central,
        { apiVersion: k.apiVersion, kind: k.kind, labelSelector: compositeLabel },
        log,
      );
      informer.on((_e, obj) => {
        // A composite's resources change in bursts (dozens become Ready within a
        // second): the first change is acted on at once, the rest of a burst
        // in one reconcile at most every composedIntervalMs.
        const xr = obj.metadata.labels?.[compositeLabel];
        if (!xr) return;
        const last = this.lastComposed.get(xr) ?? 0;
        this.queue.addAfter(
          xrKey(xr),
          Math.max(composedGatherMs, last + composedIntervalMs - Date.now()),
        );
      });
      this.composed.set(k.kind, informer);
    }
  }

  private informers(): {
    health(): { synced: boolean };
    start(): Promise<void>;
    stop(): Promise<void>;
  }[] {
    return [this.claims, this.composites, this.compositions, ...this.composed.values()];
  }

  get synced(): boolean {
    return this.informers().every((i) => i.health().synced);
  }

  async start(): Promise<void> {
    await Promise.all(this.informers().map((i) => i.start()));
    this.queue.start();
  }

  async stop(): Promise<void> {
    await this.queue.stop();
    await Promise.all(
      [...this.informers(), ...[...this.required.values()].map((r) => r.informer)].map((i) =>
        i.stop(),
      ),
    );
  }

  private async reconcile(key: string): Promise<ReconcileResult> {
    const [type, ...rest] = key.split("/");
    if (type === "claim") return this.reconcileClaim(rest[0] ?? "", rest[1] ?? "");
    return this.reconcileComposite(rest.join("/"));
  }

  // ---- claims ----------------------------------------------------------------

  private async reconcileClaim(ns: string, name: string): Promise<ReconcileResult> {
    const claim = this.claims.get(`${ns}/${name}`);
    if (!claim) return undefined;
    const xrName = claim.spec.resourceRef?.name ?? compositeNameFor(claim);
    const xr = this.composites.get(xrName);
    if (claim.metadata.deletionTimestamp) return this.deleteClaim(claim, xrName, xr);

    if (!claim.metadata.finalizers?.includes(claimFinalizer)) {
      await this.ensureFinalizer(claim, claimFinalizer);
      return undefined; // the update event brings the claim back
    }
    if (!claim.spec.resourceRef) {
      // Recorded before the composite exists, so a crash in between binds the same name.
      await this.patchMeta(
        claim,
        {},
        {
          resourceRef: { apiVersion: xrApiVersion, kind: "XStretchKafka", name: xrName },
        },
      );
      return undefined; // the update event brings the claim back
    }
    // As Crossplane: the claim names the Composition its composite was given.
    const chosen = xr?.spec.compositionRef?.name;
    if (chosen && !claim.spec.compositionRef) {
      await this.patchMeta(claim, {}, { compositionRef: { name: chosen } });
      return undefined; // the update event brings the claim back
    }
    const boundElsewhere =
      xr?.spec.claimRef && (xr.spec.claimRef.name !== name || xr.spec.claimRef.namespace !== ns);
    if (boundElsewhere) {
      return this.claimStatus(
        claim,
        xr,
        `composite ${xrName} is bound to claim ${xr.spec.claimRef?.namespace ?? ""}/${xr.spec.claimRef?.name ?? ""}; remove spec.resourceRef from this claim to get a composite of its own`,
      );
    }
    const bound = xr?.spec.claimRef?.name === name && xr.spec.claimRef.namespace === ns;
    try {
      await this.applyComposite(claim, xrName);
    } catch (err) {
      // The API server refused the spec (e.g. a change the schema forbids): the
      // composite keeps what it had, and the claim says what to fix.
      if (err instanceof KubeApiError && err.code >= 400 && err.code < 500 && err.code !== 409) {
        const message = `cannot apply composite ${xrName}: ${describeError(err)}`;
        await this.events.record(claim, "Warning", "ConfigureCompositeError", message);
        return this.claimStatus(claim, xr, message);
      }
      throw err;
    }
    // Crossplane's claim events: the binding, and while the composite is not Ready.
    if (!bound)
      await this.events.record(
        claim,
        "Normal",
        "BindCompositeResource",
        "Successfully bound composite resource",
      );
    else if (xr.status?.conditions?.find((c) => c.type === "Ready")?.status !== "True")
      await this.events.record(
        claim,
        "Normal",
        "BindCompositeResource",
        "Composite resource is not yet ready",
      );
    const published = await this.claimConnectionSecret(claim, xr);
    await this.claimStatus(claim, xr, true, published);
    // Look again when the connection Secret is due to be applied again.
    return claim.spec.writeConnectionSecretToRef ? { requeueAfterMs: this.resyncMs } : undefined;
  }

  private async applyComposite(claim: Claim, xrName: string): Promise<void> {
    const spec = { ...claim.spec };
    delete spec.resourceRef;
    delete spec.writeConnectionSecretToRef;
    delete spec.compositeDeletePolicy;
    const ns = claim.metadata.namespace ?? "";
    const xr = {
      apiVersion: xrApiVersion,
      kind: "XStretchKafka",
      metadata: {
        name: xrName,
        labels: {
          [compositeLabel]: xrName,
          [claimNameLabel]: claim.metadata.name ?? "",
          [claimNamespaceLabel]: ns,
        },
      },
      spec: {
        ...spec,
        claimRef: {
          apiVersion: claim.apiVersion,
          kind: claim.kind,
          name: claim.metadata.name ?? "",
          namespace: ns,
        },
        writeConnectionSecretToRef: {
          name: claim.metadata.uid ?? "",
          namespace: this.connectionNamespace(spec.compositionRef?.name),
        },
      },
    };
    const id = `XStretchKafka/${xrName}`;
    const d = digest(xr);
    const existing = this.composites.get(xrName);
    // Level-based: a hand edit of what the claim sets is put back.
    if (existing && covers(existing, xr) && this.unchanged(id, d)) return;
    await this.central.apply(xr, { fieldManager: fmClaim });
    this.mark(id, d);
  }

  /** The claim's status: the composite's, with the claim's own Synced condition. */
  private async claimStatus(
    claim: Claim,
    xr: Composite | undefined,
    ok: true | string,
    published?: string,
  ): Promise<ReconcileResult> {
    const { conditions: xrConditions, ...fields } = xr?.status ?? {};
    // The claim is where its owners look: a composite that cannot be composed
    // makes the claim not Synced, with the composite's reason.
    const xrSynced = xrConditions?.find((c) => c.type === "Synced");
    const claimOk =
      ok === true && xrSynced?.status === "False"
        ? `composite ${xr?.metadata.name ?? ""}: ${xrSynced.message ?? xrSynced.reason}`
        : ok;
    const next = [
      synced(claimOk),
      ...(xrConditions ?? [])
        .filter((c) => c.type !== "Synced")
        .map(({ lastTransitionTime: _t, ...c }) => c),
    ];
    if (!xrConditions?.some((c) => c.type === "Ready"))
      next.push({
        type: "Ready",
        status: "False",
        reason: "Creating",
        message: "waiting for the composite to be composed",
      });
    const lastPublishedTime = published ?? claim.status?.connectionDetails?.lastPublishedTime;
    const status: Status = {
      ...fields,
      ...(lastPublishedTime ? { connectionDetails: { lastPublishedTime } } : {}),
      conditions: stamped(next, claim.status?.conditions, this.now()),
    };
    if (digest(status) !== digest(claim.status ?? {})) {
      await this.central.apply(
        {
          apiVersion: claim.apiVersion,
          kind: claim.kind,
          metadata: { name: claim.metadata.name ?? "", namespace: claim.metadata.namespace ?? "" },
          status,
        },
        { fieldManager: fmClaim, subresource: "status" },
      );
    }
    return ok === true ? undefined : { requeueAfterMs: defaultPollSeconds * 1000 };
  }

  /**
   * Copies the composite's connection Secret into the claim's namespace, owned
   * by the claim; returns when, if it wrote it now.
   */
  private async claimConnectionSecret(
    claim: Claim,
    xr: Composite | undefined,
  ): Promise<string | undefined> {
    const to = claim.spec.writeConnectionSecretToRef;
    // The composite's details as its last reconcile wrote them (that reconcile
    // queues the claim whenever they change): no read per claim reconcile.
    const details = xr ? this.connections.get(xr.metadata.name ?? "") : undefined;
    if (!to || !details) return undefined;
    // As Crossplane: only the keys the XRD publishes reach the claim.
    const data = pick(details, connectionSecretKeys);
    const secret = {
      apiVersion: "v1",
      kind: "Secret",
      type: "connection.crossplane.io/v1alpha1",
      metadata: {
        name: to.name,
        namespace: claim.metadata.namespace ?? "",
        labels: {
          [claimNameLabel]: claim.metadata.name ?? "",
          [claimNamespaceLabel]: claim.metadata.namespace ?? "",
        },
        ownerReferences: [controllerRef(claim)],
      },
      data,
    };
    const id = `Secret/${secret.metadata.namespace}/${to.name}`;
    const d = digest(secret);
    const changed = this.applied.get(id)?.digest !== d;
    if (this.unchanged(id, d)) return undefined;
    // Applied again after resyncMs even if unchanged: a deleted Secret comes back.
    await this.central.apply(secret, { fieldManager: fmClaim });
    this.mark(id, d);
    return changed ? this.now() : undefined;
  }

  private async deleteClaim(
    claim: Claim,
    xrName: string,
    cached: Composite | undefined,
  ): Promise<ReconcileResult> {
    const foreground = claim.spec.compositeDeletePolicy === "Foreground";
    // Not in the cache may only mean not seen yet: a composite left behind
    // would run on with no claim, so ask the API server before letting go.
    const xr =
      cached ?? (await this.central.find<Composite>(xrApiVersion, "XStretchKafka", xrName));
    if (xr) {
      if (!xr.metadata.deletionTimestamp) {
        await this.central.delete(xrApiVersion, "XStretchKafka", xrName, undefined, {
          propagationPolicy: foreground ? "Foreground" : "Background",
        });
        this.log.info(
          { claim: objectKey(claim), composite: xrName },
          "claim deleted: deleting its composite",
        );
      }
      // Foreground: the claim stays until its composite (and so every remote object) is gone.
      if (foreground) return { requeueAfterMs: 2000 };
    }
    await this.removeFinalizer(claim, claimFinalizer);
    return undefined;
  }

  // ---- composites ------------------------------------------------------------

  private async reconcileComposite(name: string): Promise<ReconcileResult> {
    const xr = this.composites.get(name);
    if (!xr) return undefined;
    if (xr.metadata.deletionTimestamp) return this.deleteComposite(xr);
    this.lastComposed.set(name, Date.now());
    if (!xr.metadata.finalizers?.includes(compositeFinalizer)) {
      await this.ensureFinalizer(xr, compositeFinalizer);
      return undefined; // the update event brings the composite back
    }

    const composition = this.compositionFor(xr);
    if (typeof composition === "string") return this.compositeStatus(xr, composition, undefined);

    const observed = this.composedOf(name);
    const req = request(xr, observed);
    req.meta = {
      tag: createHash("sha256").update(RunFunctionRequest.encode(req).finish()).digest("hex"),
      capabilities: [],
    };
    const out = await runPipeline(composition.spec.pipeline ?? [], this.opts.runners, req, (s) =>
      this.fetchRequired(s),
    );
    if (out.fatal.length > 0) {
      const message = `cannot compose resources: ${out.fatal.join("; ")}`;
      await this.events.record(xr, "Warning", "ComposeResources", message);
      // Nothing is applied or deleted: what runs keeps running.
      return this.compositeStatus(xr, message, undefined);
    }

    const desired = out.desired.resources;
    const wanted = new Set<string>();
    const refs: Ref[] = [];
    const failures: string[] = [];
    await Promise.all(
      Object.entries(desired).map(async ([resName, r]) => {
        const obj = composedObject(xr, resName, r.resource ?? {}) as unknown as KubeObject;
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
        this.log.info(
          { composite: name, kind: o.kind, name: o.metadata.name },
          "deleting a composed resource no longer desired",
        );
        await this.central.delete(o.apiVersion, o.kind, o.metadata.name ?? "", undefined, {
          propagationPolicy: "Background",
        });
        this.applied.delete(`${o.kind}/${o.metadata.name ?? ""}`);
      }
    }
    refs.sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
    if (!xr.spec.compositionRef?.name)
      await this.events.record(
        xr,
        "Normal",
        "SelectComposition",
        `Successfully selected composition: ${composition.metadata.name ?? ""}`,
      );
    if (digest(refs) !== digest(xr.spec.resourceRefs ?? [])) {
      await this.central.apply(
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
      await this.events.record(
        xr,
        "Normal",
        "PublishConnectionSecret",
        "Successfully published connection details",
      );
    if (secretChanged && claim) this.queue.add(claimKey(claim.namespace ?? "", claim.name));

    await this.resultEvents(xr, out.results);
    const problem =
      failures.length > 0
        ? `cannot apply ${failures.length} composed resource(s): ${failures.slice(0, 3).join("; ")}`
        : true;
    const status = (out.desired.composite?.resource?.["status"] ?? {}) as Record<string, unknown>;
    const conditions = out.last ? [readyCondition(out.last), ...functionConditions(out.last)] : [];
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
      ? this.claims.get(`${claimRef.namespace ?? ""}/${claimRef.name}`)
      : undefined;
    for (const { step, result: r } of results) {
      if (r.severity === Severity.SEVERITY_FATAL) continue;
      const type = r.severity === Severity.SEVERITY_NORMAL ? "Normal" : "Warning";
      const reason = r.reason || "ComposeResources";
      await this.events.record(xr, type, reason, `Pipeline step "${step}": ${r.message}`);
      if (claim && r.target === Target.TARGET_COMPOSITE_AND_CLAIM)
        await this.events.record(claim, type, reason, r.message);
    }
  }

  /**
   * Applies one composed resource, unless it is unchanged since this engine
   * last applied it. One that belongs to another composite is refused.
   */
  private async applyComposed(xr: Composite, obj: KubeObject): Promise<void> {
    const id = `${obj.kind}/${obj.metadata.name ?? ""}`;
    const existing = this.composed.get(obj.kind)?.get(obj.metadata.name ?? "");
    const d = digest(obj);
    // Level-based: skipped only while what is there still holds everything
    // asked for; a hand edit of a composed resource is put back.
    if (existing && this.applied.get(id)?.digest === d && covers(existing, obj)) return;
    const owner = existing?.metadata.labels?.[compositeLabel];
    if (existing && owner !== xr.metadata.name) {
      throw new Error(
        `it exists already and belongs to composite ${owner ?? "(none)"}; not taking it over`,
      );
    }
    // Not seen as ours: created without force, so an object someone else made
    // under that name is a conflict reported here, not silently taken over.
    await this.central.apply(obj, { fieldManager: fmComposite, force: existing !== undefined });
    this.mark(id, d);
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
    this.connections.set(xr.metadata.name ?? "", data);
    const id = `Secret/${ref.namespace}/${ref.name}`;
    const d = digest(data);
    const changed = this.applied.get(id)?.digest !== d;
    if (this.unchanged(id, d)) return false;
    await this.central.apply(
      {
        apiVersion: "v1",
        kind: "Secret",
        type: "connection.crossplane.io/v1alpha1",
        metadata: {
          name: ref.name,
          namespace: ref.namespace,
          labels: { [compositeLabel]: xr.metadata.name ?? "" },
          ownerReferences: [controllerRef(xr)],
        },
        data,
      },
      { fieldManager: fmComposite },
    );
    this.mark(id, d);
    return changed;
  }

  private async compositeStatus(
    xr: Composite,
    ok: true | string,
    composed: { fields: Record<string, unknown>; conditions: CompositeCondition[] } | undefined,
  ): Promise<ReconcileResult> {
    const { conditions: prev, ...prevFields } = xr.status ?? {};
    // A refusal keeps the last good status (node ids above all) and says why.
    const fields = composed?.fields ?? prevFields;
    const rest = composed?.conditions ?? (prev ?? []).filter((c) => c.type !== "Synced");
    const next = [synced(ok), ...rest.map(({ lastTransitionTime: _t, ...c }: Condition) => c)];
    const status: Status = { ...fields, conditions: stamped(next, prev, this.now()) };
    if (digest(status) !== digest(xr.status ?? {})) {
      await this.central.apply(
        {
          apiVersion: xr.apiVersion,
          kind: xr.kind,
          metadata: { name: xr.metadata.name ?? "" },
          status,
        },
        { fieldManager: fmComposite, subresource: "status" },
      );
    }
    return ok === true ? undefined : { requeueAfterMs: 30_000 };
  }

  private async deleteComposite(xr: Composite): Promise<ReconcileResult> {
    const name = xr.metadata.name ?? "";
    const left = this.composedOf(name);
    for (const o of left) {
      this.applied.delete(`${o.kind}/${o.metadata.name ?? ""}`);
      if (o.metadata.deletionTimestamp) continue;
      await this.central.delete(o.apiVersion, o.kind, o.metadata.name ?? "", undefined, {
        propagationPolicy: "Background",
      });
    }
    if (left.length > 0) return { requeueAfterMs: 2000 };
    this.applied.delete(`XStretchKafka/${name}`);
    this.connections.delete(name);
    this.lastComposed.delete(name);
    await this.removeFinalizer(xr, compositeFinalizer);
    return undefined;
  }

  // ---- helpers ---------------------------------------------------------------

  /** Applied with this digest less than resyncMs ago. */
  private unchanged(id: string, d: string): boolean {
    const a = this.applied.get(id);
    return a?.digest === d && Date.now() - a.at < this.resyncMs;
  }

  private mark(id: string, d: string): void {
    this.applied.set(id, { digest: d, at: Date.now() });
  }

  private composedOf(xr: string): KubeObject[] {
    const out: KubeObject[] = [];
    for (const informer of this.composed.values()) {
      for (const o of informer.list()) if (o.metadata.labels?.[compositeLabel] === xr) out.push(o);
    }
    return out;
  }

  /** The Composition for a composite: the one it names, else the only one for its type. */
  private compositionFor(xr: Composite): Composition | string {
    const named = xr.spec.compositionRef?.name;
    if (named) {
      return (
        this.compositions.get(named) ??
        `Composition ${named} (spec.compositionRef) does not exist; install compositions/xstretchkafka.yaml or name another`
      );
    }
    const matching = this.compositions
      .list()
      .filter(
        (c) =>
          c.spec.compositeTypeRef.apiVersion === xr.apiVersion &&
          c.spec.compositeTypeRef.kind === xr.kind,
      );
    const [only, ...more] = matching;
    if (!only) return `no Composition for ${xr.kind}; install compositions/xstretchkafka.yaml`;
    if (more.length > 0) {
      return `${matching.length} Compositions for ${xr.kind} (${matching.map((c) => c.metadata.name ?? "").join(", ")}); choose one with spec.compositionRef`;
    }
    if (only.spec.mode !== undefined && only.spec.mode !== "Pipeline")
      return `Composition ${only.metadata.name ?? ""} is in mode ${only.spec.mode}; only Pipeline is supported`;
    return only;
  }

  private connectionNamespace(composition: string | undefined): string {
    const c = composition
      ? this.compositions.get(composition)
      : this.compositions.list().find((x) => x.spec.compositeTypeRef.kind === "XStretchKafka");
    return c?.spec.writeConnectionSecretsToNamespace ?? this.opts.namespace;
  }

  /**
   * What a function requires, from a cache per kind (started on first use): a
   * composite is composed again on every change of its resources, and asking
   * the API server each time was the engine's largest share of requests.
   */
  private async fetchRequired(s: ResourceSelector): Promise<KubeObject[]> {
    const key = `${s.apiVersion}|${s.kind}`;
    let entry = this.required.get(key);
    if (!entry) {
      const informer = new Informer(
        this.central,
        { apiVersion: s.apiVersion, kind: s.kind },
        this.log,
      );
      entry = { informer, synced: informer.start() };
      this.required.set(key, entry);
    }
    await entry.synced;
    return matching(s, entry.informer.list());
  }

  private async ensureFinalizer(obj: KubeObject, finalizer: string): Promise<void> {
    const list = obj.metadata.finalizers ?? [];
    if (!list.includes(finalizer)) await this.patchMeta(obj, { finalizers: [...list, finalizer] });
  }

  private async removeFinalizer(obj: KubeObject, finalizer: string): Promise<void> {
    const list = obj.metadata.finalizers ?? [];
    if (list.includes(finalizer))
      await this.patchMeta(obj, { finalizers: list.filter((f) => f !== finalizer) });
  }

  /**
   * A merge patch that applies only to the version read (a 409 retries with a
   * fresh one) and never creates: an object deleted meanwhile stays deleted.
   */
  private async patchMeta(
    obj: KubeObject,
    patch: Record<string, unknown>,
    spec?: object,
  ): Promise<void> {
    const path = await this.central.path(
      obj.apiVersion,
      obj.kind,
      obj.metadata.namespace,
      obj.metadata.name,
    );
    try {
      await this.central.request(
        "PATCH",
        path,
        {
          metadata: { ...patch, resourceVersion: obj.metadata.resourceVersion },
          ...(spec ? { spec } : {}),
        },
        "application/merge-patch+json",
      );
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return;
      throw err;
    }
  }

  /** Resolves once the queue has nothing to do (tests). */
  async idle(): Promise<void> {
    await this.queue.idle();
    await sleep(0);
  }
}
