/**
 * What the engine's claim and composite reconcilers share: the types they
 * read and write, the watch caches, the work queue, and the writes both make
 * (digest-skipped applies, finalizers, merge patches against the version read).
 */
import { createHash } from "node:crypto";
import { canonical } from "../../apis/canonical.ts";
import type { Logger } from "pino";
import {
  annotations,
  groups,
  labels,
  type StretchKafkaClaimSpec,
  type XStretchKafkaSpec,
} from "../../apis/index.ts";
import { compositeLabel, matching, type CompositeCondition } from "../../functions/render.ts";
import { DynamicClient, KubeApiError, type KubeObject } from "../kube/dynamic.ts";
import { EventRecorder } from "../kube/events.ts";
import { Informer } from "../kube/informer.ts";
import { kinds } from "../provider/kinds.ts";
import { objectSetKind } from "../provider/object-set.ts";
import type { QueueOptions, WorkQueue } from "../runtime/workqueue.ts";
import type { FunctionRunner, PipelineStep } from "./pipeline.ts";
import type { ResourceSelector } from "@crossplane-org/function-sdk-typescript";
import { fieldManagers } from "../field-managers.ts";

export const xrApiVersion = groups.composite;
/**
 * The Composition the XRD names as its default (apis/crds.ts: the XRD's own
 * name): what Crossplane runs for a composite that names none when several
 * Compositions are for its type.
 */
export const defaultCompositionName = `xstretchkafkas.${xrApiVersion.split("/")[0] ?? ""}`;
export const claimFinalizer = "finalizer.apiextensions.crossplane.io";
export const compositeFinalizer = "composite.apiextensions.crossplane.io";
/** Field managers: the claim's copy of the spec; the composite's own fields. */
export const fmClaim = fieldManagers.engineClaim;
export const fmComposite = fieldManagers.engineComposite;
/** Composed resources' changes reach their composite after this, gathering a burst's start... */
export const composedGatherMs = 100;
/** ...and then at most this often, so a burst costs a few status writes, not one per resource. */
export const composedIntervalMs = 2000;
/** How often a settled composite is composed again when the function asks for no TTL. */
export const defaultPollSeconds = 60;

export interface Condition extends CompositeCondition {
  lastTransitionTime?: string;
}

export interface Status extends Record<string, unknown> {
  conditions?: Condition[];
  connectionDetails?: { lastPublishedTime?: string };
}

export interface Ref {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

/** A claim, typed from its schema (apis/). */
export interface Claim extends KubeObject {
  spec: StretchKafkaClaimSpec;
  status?: Status;
}

/** A composite, typed from its schema (apis/). */
export interface Composite extends KubeObject {
  spec: XStretchKafkaSpec;
  status?: Status;
}

export interface Composition extends KubeObject {
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
}

export const claimKey = (ns: string, name: string): string => `claim/${ns}/${name}`;
export const xrKey = (name: string): string => `xr/${name}`;
/**
 * What an object or status says, whatever the order of its keys: the API
 * server answers with keys sorted, so a status built here and the same
 * status read back compare equal (with JSON.stringify they never did, and
 * every pass wrote the same status again).
 */
export const digest = (v: unknown): string =>
  createHash("sha256").update(canonical(v)).digest("hex");

export { controllerRef } from "../../functions/render.ts";

/** The composite a claim binds to: stable for the claim's lifetime, unique per claim. */
export function compositeNameFor(claim: KubeObject): string {
  const uid = claim.metadata.uid ?? "";
  return `${claim.metadata.name ?? ""}-${createHash("sha256").update(uid).digest("hex").slice(0, 5)}`;
}

/** Conditions keep their lastTransitionTime while their status stays. */
export function stamped(
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

/** What Synced says of a claim or composite the engine leaves alone, as Crossplane does. */
export const paused = Symbol("paused");

/** Whether the object carries Crossplane's pause annotation (`crossplane.io/paused: "true"`). */
export function isPaused(o: KubeObject): boolean {
  return o.metadata.annotations?.[annotations.paused] === "true";
}

export const synced = (ok: true | string | typeof paused): CompositeCondition =>
  ok === true
    ? { type: "Synced", status: "True", reason: "ReconcileSuccess" }
    : ok === paused
      ? {
          type: "Synced",
          status: "False",
          reason: "ReconcilePaused",
          message: `reconciliation is paused via the ${annotations.paused} annotation`,
        }
      : { type: "Synced", status: "False", reason: "ReconcileError", message: ok };

export class EngineContext {
  readonly claims: Informer<Claim>;
  readonly composites: Informer<Composite>;
  readonly compositions: Informer<Composition>;
  readonly composed = new Map<string, Informer>();
  /** When each composite was last composed (ms since epoch). */
  readonly lastComposed = new Map<string, number>();
  /** Each composite's connection details (base64), as last written. */
  readonly connections = new Map<string, Record<string, string>>();
  /** Kinds functions have required, cached. */
  readonly required = new Map<string, { informer: Informer; synced: Promise<void> }>();
  /**
   * What each composite's functions required in its last composition: a
   * change to an object matching one reconciles it again, as Crossplane's
   * dependency tracker does (v2.4 on).
   */
  readonly requiredBy = new Map<string, ResourceSelector[]>();
  readonly events: EventRecorder;
  /**
   * Digest of what was last applied per object: an unchanged one costs no
   * request. For connection Secrets also the resourceVersion the write left:
   * another version seen is someone else's, and the engine's watch of them
   * forgets the digest so the owner writes it again (a relist after a broken
   * watch brings what was missed). A new leader applies each object once.
   */
  readonly applied = new Map<string, { digest: string; at: number; resourceVersion?: string }>();
  /** The connection Secrets this engine writes, metadata only (their values are not read). */
  readonly connectionSecrets: Informer;
  readonly now: () => string;
  /** Set by the engine once its queue exists. */
  queue!: WorkQueue;

  constructor(
    readonly central: DynamicClient,
    readonly log: Logger,
    readonly opts: EngineOptions,
  ) {
    this.now = opts.now ?? ((): string => new Date().toISOString().replace(/\.\d+Z$/, "Z"));
    this.events = new EventRecorder(central, "stretch-kafka-engine", log);
    this.claims = new Informer<Claim>(
      central,
      { apiVersion: xrApiVersion, kind: "StretchKafka" },
      log,
    );
    this.composites = new Informer<Composite>(
      central,
      { apiVersion: xrApiVersion, kind: "XStretchKafka" },
      log,
    );
    this.compositions = new Informer<Composition>(
      central,
      { apiVersion: "apiextensions.crossplane.io/v1", kind: "Composition" },
      log,
    );
    this.connectionSecrets = new Informer(
      central,
      {
        apiVersion: "v1",
        kind: "Secret",
        labelSelector: labels.connectionSecret,
        metadataOnly: true,
      },
      log,
    );
    // Every kind a Composition may compose: the per-object kinds and the set
    // (ADR 0026). All of them, not only those labelled with a composite: one
    // someone else made under a composed resource's name must be seen, so it
    // is refused rather than merged into (a set's list of objects merges by
    // name under server-side apply, so applying without force cannot tell).
    for (const k of [...kinds, objectSetKind]) {
      this.composed.set(
        k.kind,
        new Informer(central, { apiVersion: k.apiVersion, kind: k.kind }, log),
      );
    }
  }

  /** Last applied with this digest (and not changed by anyone since, as far as the watches tell). */
  unchanged(id: string, d: string): boolean {
    return this.applied.get(id)?.digest === d;
  }

  /**
   * A connection Secret last applied with this digest, as far as the engine
   * can tell: while its watch of them runs, until someone changes it; while
   * the watch is refused (an install without list/watch on Secrets, ADR
   * 0018), for Crossplane's poll interval.
   */
  secretUnchanged(id: string, d: string): boolean {
    const a = this.applied.get(id);
    if (a?.digest !== d) return false;
    return this.secretsWatched() || Date.now() - a.at < defaultPollSeconds * 1000;
  }

  /**
   * Applies a connection Secret unless it is unchanged (secretUnchanged);
   * resolves with whether what it holds changed, undefined when not applied.
   * With no record of its own (a leader just started, or the watch saw
   * someone else's change) the resourceVersion tells: the API server keeps
   * it for an apply that changes nothing, so a takeover publishes nothing.
   */
  async applySecret(
    secret: KubeObject,
    fieldManager: string,
    d: string,
  ): Promise<boolean | undefined> {
    const key = `${secret.metadata.namespace ?? ""}/${secret.metadata.name ?? ""}`;
    const id = `Secret/${key}`;
    if (this.secretUnchanged(id, d)) return undefined;
    const mine = this.applied.get(id);
    const seen = this.connectionSecrets.get(key)?.metadata.resourceVersion;
    const written = await this.central.apply<KubeObject>(secret, { fieldManager });
    this.mark(id, d, written.metadata.resourceVersion);
    if (mine) return mine.digest !== d;
    return seen !== written.metadata.resourceVersion;
  }

  secretsWatched(): boolean {
    return this.connectionSecrets.health().synced;
  }

  mark(id: string, d: string, resourceVersion?: string): void {
    this.applied.set(id, {
      digest: d,
      at: Date.now(),
      ...(resourceVersion ? { resourceVersion } : {}),
    });
  }

  composedOf(xr: string): KubeObject[] {
    const out: KubeObject[] = [];
    for (const informer of this.composed.values()) {
      for (const o of informer.list()) if (o.metadata.labels?.[compositeLabel] === xr) out.push(o);
    }
    return out;
  }

  /** The Composition for a composite: the one it names, else the only one for its type, else the default. */
  compositionFor(xr: Composite): Composition | string {
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
    const [first, ...more] = matching;
    const only =
      more.length > 0 ? matching.find((c) => c.metadata.name === defaultCompositionName) : first;
    if (!first) return `no Composition for ${xr.kind}; install compositions/xstretchkafka.yaml`;
    if (!only) {
      return `${matching.length} Compositions for ${xr.kind} (${matching.map((c) => c.metadata.name ?? "").join(", ")}) and none is the default ${defaultCompositionName}; choose one with spec.compositionRef`;
    }
    if (only.spec.mode !== undefined && only.spec.mode !== "Pipeline")
      return `Composition ${only.metadata.name ?? ""} is in mode ${only.spec.mode}; only Pipeline is supported`;
    return only;
  }

  connectionNamespace(composition: string | undefined): string {
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
  async fetchRequired(s: ResourceSelector): Promise<KubeObject[]> {
    const key = `${s.apiVersion}|${s.kind}`;
    let entry = this.required.get(key);
    if (!entry) {
      const informer = new Informer(
        this.central,
        { apiVersion: s.apiVersion, kind: s.kind },
        this.log,
      );
      informer.on((_e, obj) => {
        for (const [xr, selectors] of this.requiredBy)
          if (selectors.some((sel) => matching(sel, [obj]).length > 0)) this.queue.add(xrKey(xr));
      });
      entry = { informer, synced: informer.start() };
      this.required.set(key, entry);
    }
    await entry.synced;
    return matching(s, entry.informer.list());
  }

  async ensureFinalizer(obj: KubeObject, finalizer: string): Promise<void> {
    const list = obj.metadata.finalizers ?? [];
    if (!list.includes(finalizer)) await this.patchMeta(obj, { finalizers: [...list, finalizer] });
  }

  async removeFinalizer(obj: KubeObject, finalizer: string): Promise<void> {
    const list = obj.metadata.finalizers ?? [];
    if (list.includes(finalizer))
      await this.patchMeta(obj, { finalizers: list.filter((f) => f !== finalizer) });
  }

  /**
   * A merge patch that applies only to the version read (a 409 retries with a
   * fresh one) and never creates: an object deleted meanwhile stays deleted.
   */
  async patchMeta(obj: KubeObject, patch: Record<string, unknown>, spec?: object): Promise<void> {
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
}
