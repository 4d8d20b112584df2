/**
 * The one managed-resource reconciler, for every kind: re-reads the managed
 * resource, resolves its cluster's client, observes the remote object from the
 * watch cache, applies it (server-side, our field manager) only when it is
 * missing or differs from what the resource asks for, and reports back.
 * Crossplane's lifecycle lives here once: finalizer, crossplane.io/paused,
 * deletionPolicy, managementPolicies, conditions Ready and Synced.
 *
 * Deletion never happens by accident: a remote object is deleted only for a
 * managed resource that is being deleted with deletionPolicy Delete; an
 * unreachable cluster keeps the finalizer until it answers; an Orphan
 * deletion first removes the owner reference to the anchor, so that the
 * anchor's later deletion cannot cascade to the orphan.
 */
import isEqual from "lodash/isEqual.js";
import { finalizers, volumeAnnotations, type KafkaLive } from "../../apis/index.ts";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { EventRecorder } from "../kube/events.ts";
import {
  annotations as apiAnnotations,
  formatErrors,
  validate,
  type Condition,
  type ManagedResource,
} from "../../apis/index.ts";
import { KubeApiError, type KubeObject, type KubeResource } from "../kube/dynamic.ts";
import { describeError, kubeStatus } from "../kube/errors.ts";
import { fieldManagers } from "../field-managers.ts";
import { TerminalError, type ReconcileResult } from "../runtime/workqueue.ts";
import type { RemoteClient, RemoteClients } from "./clients.ts";
import { condition, mergeConditions, reasons } from "./conditions.ts";
import { CredentialsError } from "./credentials.ts";
import { annotations, covers, desiredObject, keptFor, mayTakeUp } from "./desired.ts";
import { KeptVolumes } from "./kept-volumes.ts";
import { atProviderOf, kindOf, relatedKey, type ManagedKind, type Related } from "./kinds.ts";
import type { RemoteCache } from "./remote-cache.ts";

export const finalizer = finalizers.managed;
/**
 * On a ProviderConfig: its cluster is gone for good. Its managed resources are
 * released without touching the remote cluster (docs/operations.md).
 */
export const abandonAnnotation = "remote.stretchkafka.dev/abandon";
export const fieldManager = fieldManagers.provider;

/**
 * Fills a RemoteSecret's data (base64 values) from wherever its spec says;
 * gets the remote Secret as observed, so a valid certificate is kept.
 */
export type SecretSource = (
  mr: ManagedResource,
  observed: KubeObject | undefined,
) => Promise<Record<string, string>>;

/** A kind whose resources use a ProviderConfig: a managed kind, or RemoteObjectSet. */
export interface UsingKind {
  kind: string;
  apiVersion: string;
}
export interface UsingResource {
  metadata: KubeObject["metadata"];
  spec: { providerConfigRef: { name: string } };
}

export interface ReconcilerDeps {
  central: {
    apply: (
      obj: KubeObject,
      opts: { fieldManager: string; subresource?: "status"; force?: boolean },
    ) => Promise<unknown>;
    get: (
      apiVersion: string,
      kind: string,
      name: string,
      namespace?: string,
    ) => Promise<KubeObject>;
    mergePatch: (
      apiVersion: string,
      kind: string,
      name: string,
      namespace: string | undefined,
      patch: object,
      opts?: { subresource?: "status"; fieldManager?: string },
    ) => Promise<unknown>;
  };
  clients: Pick<RemoteClients, "get" | "providerConfig">;
  remote: Pick<RemoteCache, "get">;
  /** The managed resource as last seen by the central watch. */
  read(kind: string, name: string): ManagedResource | undefined;
  /** Whether the central watch has the RemoteObjectSet `name`. */
  hasSet?(name: string): boolean;
  /**
   * Managed resources and set entries whose remote objects the named anchor
   * owns, other than those whose key starts with `except` (the resource
   * itself, or the whole set it is an entry of).
   */
  ownedByAnchor(
    providerConfig: string,
    namespace: string,
    anchor: string,
    except: string,
  ): string[];
  secrets: SecretSource;
  /** Records (once) that the resource uses its ProviderConfig, and forgets it. */
  usage: {
    ensure(kind: UsingKind, mr: UsingResource): Promise<void>;
    release(kind: UsingKind, mr: UsingResource): Promise<void>;
  };
  events: Pick<EventRecorder, "record">;
  /** The remote cluster refused the credentials (401/403): its ProviderConfig must look again. */
  refused(providerConfig: string): void;
  now(): string;
  /** How long a remote object may stay stalled before it is touched (default 10 s). */
  stallGraceMs?: number;
  /** How long a new managed resource waits quietly for what it needs before saying so (default 5 s). */
  orderingGraceMs?: number;
  /** Kafka's own view of a composite's cluster, once the admin channel has asked. */
  kafkaLive?: (composite: string) => KafkaLive | undefined;
  log: Logger;
}

export type Outcome = {
  conditions: Omit<Condition, "lastTransitionTime">[];
  atProvider?: Record<string, unknown>;
  /**
   * Nothing was observed (the cluster did not answer): atProvider stays as
   * last seen and observedGeneration where it was, so no reader takes the old
   * observation for one of the current spec.
   */
  unobserved?: boolean;
};

/** A value as JSON stores it (undefined members dropped), for comparing with what was read. */
export const asStored = (value: unknown): unknown =>
  value === undefined ? undefined : (JSON.parse(JSON.stringify(value)) as unknown);

/** How a remote object names the managed resource that applied it. */
const mrKey = (kind: ManagedKind, mr: ManagedResource): string =>
  `${kind.kind}/${mr.metadata.name ?? ""}`;

/**
 * What one remote object is reconciled for: a managed resource of its own, or
 * one entry of a RemoteObjectSet seen as one (the set's metadata and policies,
 * the entry's forProvider and last status). Everything about the remote
 * object is the same for both; only where its status and events go differs.
 */
export interface Subject {
  kind: ManagedKind;
  mr: ManagedResource;
  /** How the remote object names who applied it (its managed-resource annotation). */
  key: string;
  /** The object events are recorded on. */
  involved: KubeResource;
  report(outcome: Outcome): Promise<void>;
  /** Whether a remote object another key names may be taken over (that key's entry has left the same set). */
  adopts?(key: string): boolean;
}

/** What a paused resource says. */
export const pausedCondition = condition(
  "Synced",
  "False",
  reasons.reconcilePaused,
  "reconciliation is paused (crossplane.io/paused)",
);

/** What a resource of an abandoned ProviderConfig says (the function reads the reason). */
export const abandonedCondition = (pc: string): Omit<Condition, "lastTransitionTime"> =>
  condition(
    "Synced",
    "False",
    "Abandoned",
    `ProviderConfig ${pc} is abandoned (${abandonAnnotation}); nothing is applied to its cluster`,
  );

/**
 * Lets a managed resource (or a set) go: its usage record, then our
 * finalizer. A merge patch, not an apply: the composer applied the finalizer
 * too, and an apply only gives up our own claim on it. The resourceVersion
 * makes it a compare-and-swap, so another finalizer added meanwhile is not lost.
 */
export async function release(
  deps: Pick<ReconcilerDeps, "usage" | "central">,
  kind: UsingKind,
  obj: UsingResource,
): Promise<void> {
  await deps.usage.release(kind, obj);
  const left = (obj.metadata.finalizers ?? []).filter((f) => f !== finalizer);
  try {
    await deps.central.mergePatch(kind.apiVersion, kind.kind, obj.metadata.name ?? "", undefined, {
      metadata: { finalizers: left, resourceVersion: obj.metadata.resourceVersion },
    });
  } catch (err) {
    // Gone already (the watch has seen it go): there is nothing left to release.
    if (err instanceof KubeApiError && err.code === 404) return;
    throw err;
  }
}

/** The status a managed resource (or a set's entry) has after `outcome`. */
export function statusAfter(
  status: ManagedResource["status"],
  generation: number | undefined,
  outcome: Outcome,
  now: string,
): {
  conditions: Condition[];
  atProvider?: NonNullable<ManagedResource["status"]>["atProvider"];
  observedGeneration?: number;
} {
  const conditions = mergeConditions(status?.conditions, outcome.conditions, now, generation);
  const atProvider = outcome.atProvider ?? status?.atProvider;
  // observedGeneration too: readers (the function's upgrade gate) tell from it
  // whether atProvider describes the spec they see.
  const observedGeneration = outcome.unobserved ? status?.observedGeneration : generation;
  return {
    conditions,
    ...(atProvider ? { atProvider } : {}),
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
  };
}

/** Whether `next` says what `status` already says, compared as the API server keeps them (keys in any order, no undefined members). */
export function sameStatus(
  status: ManagedResource["status"],
  generation: number | undefined,
  next: ReturnType<typeof statusAfter>,
): boolean {
  return (
    isEqual(asStored(next.conditions), status?.conditions ?? []) &&
    isEqual(asStored(next.atProvider), status?.atProvider) &&
    (status?.observedGeneration ?? generation) === (next.observedGeneration ?? generation)
  );
}

export class ManagedReconciler {
  /** Since when each remote object has been seen stalled (kind behaviour `stalled`). */
  private readonly stalls = new Map<string, number>();
  /** Since when each new managed resource has waited for an object it needs (the anchor, its kind's needs). */
  private readonly waits = new Map<string, number>();

  /** Kept volumes noted in a pass, written to their ProviderConfig's record at its end. */
  private readonly kept: KeptVolumes;

  constructor(private readonly deps: ReconcilerDeps) {
    this.kept = new KeptVolumes(deps.central, fieldManagers.keptVolumes);
  }

  /** Writes cluster `pc`'s kept-volume record with what this pass noted (a set's pass calls it at its end). */
  writeKept(pc: string): Promise<void> {
    return this.kept.write(pc);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [kindName = "", name = ""] = key.split("/");
    const kind = kindOf(kindName);
    if (!kind) throw new TerminalError(`unknown managed-resource kind ${kindName}`);
    const mr = this.deps.read(kind.kind, name);
    if (!mr) {
      this.waits.delete(`${kind.kind}/${name}`);
      return undefined;
    }
    const log = this.deps.log.child({
      mr: key,
      cluster: mr.spec.providerConfigRef.name,
      reconcileId: randomUUID().slice(0, 8),
    });
    const s: Subject = {
      kind,
      mr,
      key: mrKey(kind, mr),
      involved: mr,
      report: (outcome) => this.report(kind, mr, outcome),
    };

    if (mr.metadata.annotations?.[apiAnnotations.paused] === "true") {
      await s.report({
        conditions: [pausedCondition],
      });
      return undefined;
    }
    const valid = validate(kind.kind, mr);
    if (!valid.valid) {
      const message = `invalid ${kind.kind}: ${formatErrors(valid.errors)}`;
      await s.report({
        conditions: [condition("Synced", "False", reasons.reconcileError, message)],
      });
      throw new TerminalError(message);
    }

    const pc = this.deps.clients.providerConfig(mr.spec.providerConfigRef.name);
    if (pc?.metadata.annotations?.[abandonAnnotation] === "true")
      return this.abandon(kind, mr, log);

    let remote: RemoteClient;
    try {
      remote = await this.deps.clients.get(mr.spec.providerConfigRef.name);
    } catch (err) {
      if (!(err instanceof CredentialsError)) throw err;
      await s.report({
        conditions: [condition("Synced", "False", reasons.reconcileError, err.message)],
      });
      // Fixing the ProviderConfig or its Secret re-queues this; look again now and then anyway.
      return { requeueAfterMs: 60_000 };
    }

    if (mr.metadata.deletionTimestamp) return this.delete(s, remote, log);
    await this.deps.usage.ensure(kind, mr);
    if (!mr.metadata.finalizers?.includes(finalizer)) {
      await this.deps.central.apply(
        {
          apiVersion: kind.apiVersion,
          kind: kind.kind,
          metadata: { name: mr.metadata.name ?? "", finalizers: [finalizer] },
        },
        { fieldManager },
      );
    }
    const result = await this.sync(s, remote, log);
    await this.kept.write(mr.spec.providerConfigRef.name);
    return result;
  }

  private can(mr: ManagedResource, action: "Create" | "Update" | "Delete"): boolean {
    const p = mr.spec.managementPolicies ?? ["*"];
    return p.includes("*") || p.includes(action);
  }

  private remoteRef(mr: ManagedResource): {
    apiVersion: string;
    kind: string;
    namespace: string;
    name: string;
  } {
    const m = mr.spec.forProvider.manifest;
    return {
      apiVersion: m.apiVersion,
      kind: m.kind,
      namespace: m.metadata.namespace ?? "",
      name: m.metadata.name ?? "",
    };
  }

  /** The remote object, or a thrown error after saying in the status that the cluster is unreachable. */
  private async observe(
    s: Subject,
    remote: RemoteClient,
    ref: { apiVersion: string; kind: string; namespace: string; name: string },
    ready: Omit<Condition, "lastTransitionTime">,
  ): Promise<KubeObject | undefined> {
    const pc = s.mr.spec.providerConfigRef.name;
    const seen = await this.deps.remote.get(pc, remote, ref);
    if (seen.synced) return seen.object;
    const why = `cluster ${pc} (${remote.server}) is unreachable: ${seen.health.lastError ?? "no answer yet"}`;
    await s.report({
      conditions: [ready, condition("Synced", "False", reasons.clusterUnreachable, why)],
      unobserved: true,
    });
    throw new Error(why);
  }

  /** Applies the subject's remote object when it differs from what it asks for, and reports it. */
  async sync(s: Subject, remote: RemoteClient, log: Logger): Promise<ReconcileResult> {
    const { kind, mr } = s;
    const ref = this.remoteRef(mr);
    const unknownReady = condition(
      "Ready",
      "Unknown",
      reasons.unavailable,
      "cannot see the remote object",
    );
    const observed = await this.observe(s, remote, ref, unknownReady);
    const other = this.otherManager(s, observed);
    if (other) {
      const what = `${ref.kind} ${ref.namespace}/${ref.name} in cluster ${mr.spec.providerConfigRef.name} is ${other.is}`;
      const unknown = this.unknownManager(observed);
      const message = unknown
        ? `${what}, which this central cluster does not have: nothing was changed. If this central cluster replaces a lost one, delete this claim and restore the lost one's backup instead (stretch-kafka restore; docs/operations.md, "Backing up and restoring the central cluster"); if that managed resource was released from an abandoned cluster, delete the remote object by hand`
        : `${what}${other.then}`;
      await s.report({
        conditions: [
          condition("Ready", "False", reasons.unavailable, message),
          condition(
            "Synced",
            "False",
            unknown ? reasons.unknownManager : reasons.conflict,
            message,
          ),
        ],
      });
      await this.deps.events.record(s.involved, "Warning", "CannotUpdateExternalResource", message);
      // The other one may go away; nothing of ours is watched on that object.
      return { requeueAfterMs: 30_000 };
    }

    let anchor: { name: string; uid: string } | undefined;
    const anchorName = mr.spec.forProvider.ownerAnchor?.name;
    if (anchorName) {
      const a = await this.observe(
        s,
        remote,
        { apiVersion: "v1", kind: "ConfigMap", namespace: ref.namespace, name: anchorName },
        unknownReady,
      );
      if (!a?.metadata.uid) {
        return this.waitFor(
          s,
          `waiting for the anchor ConfigMap ${ref.namespace}/${anchorName}`,
          2000,
        );
      }
      anchor = { name: anchorName, uid: a.metadata.uid };
    }

    const needs = kind.behaviour.needs?.(mr.spec.forProvider.manifest) ?? [];
    if (typeof needs === "string") {
      const message = `cannot apply ${ref.kind} ${ref.namespace}/${ref.name}: ${needs}`;
      await s.report({
        conditions: [
          condition("Ready", "False", reasons.unavailable, message),
          condition("Synced", "False", reasons.reconcileError, message),
        ],
      });
      // A corrected manifest re-queues it.
      return undefined;
    }
    for (const need of needs) {
      const there = await this.observeNeed(
        s,
        remote,
        { ...need, namespace: ref.namespace },
        unknownReady,
      );
      const why = !there
        ? `waiting for ${need.kind} ${ref.namespace}/${need.name} to exist in cluster ${mr.spec.providerConfigRef.name}`
        : need.unusable?.(there) &&
          `waiting for ${need.kind} ${ref.namespace}/${need.name} in cluster ${mr.spec.providerConfigRef.name}: ${need.unusable(there)}`;
      if (why) return this.waitFor(s, why, 1000);
    }
    this.waits.delete(s.key);

    let data: Record<string, string> | undefined;
    if (kind.kind === "RemoteSecret") {
      try {
        data = await this.deps.secrets(mr, observed);
      } catch (err) {
        await s.report({
          conditions: [condition("Synced", "False", reasons.reconcileError, describeError(err))],
        });
        throw err;
      }
    }

    const desired = desiredObject({
      manifest: mr.spec.forProvider.manifest,
      mrKey: s.key,
      ...(kind.behaviour.stampNested ? { stampNested: kind.behaviour.stampNested } : {}),
      ...(anchor ? { anchor } : {}),
      ...(data ? { data } : {}),
    });
    let current = observed;
    const stale =
      !observed ||
      observed.metadata.annotations?.[annotations.appliedHash] !==
        desired.metadata.annotations?.[annotations.appliedHash] ||
      !covers(observed, desired);
    if (stale && this.can(mr, observed ? "Update" : "Create")) {
      try {
        current = await remote.client.apply(desired, { fieldManager, force: true });
        const what = `${ref.kind} ${ref.namespace}/${ref.name} in cluster ${mr.spec.providerConfigRef.name}`;
        log.info({ remote: what }, observed ? "updated remote object" : "created remote object");
        await this.deps.events.record(
          s.involved,
          "Normal",
          observed ? "UpdatedExternalResource" : "CreatedExternalResource",
          observed ? `updated ${what} to what this resource asks for` : `created ${what}`,
        );
      } catch (err) {
        const message = `cannot apply ${ref.kind} ${ref.namespace}/${ref.name}: ${describeError(err)}`;
        await s.report({
          conditions: [condition("Synced", "False", reasons.reconcileError, message)],
        });
        await this.deps.events.record(
          s.involved,
          "Warning",
          observed ? "CannotUpdateExternalResource" : "CannotCreateExternalResource",
          message,
        );
        const code = kubeStatus(err)?.code;
        if (code === 401 || code === 403) this.deps.refused(mr.spec.providerConfigRef.name);
        if (code === 400 || code === 422) throw new TerminalError(message, { cause: err });
        throw new Error(message, { cause: err });
      }
    }
    if (!current) {
      await s.report({
        conditions: [
          condition(
            "Ready",
            "False",
            reasons.unavailable,
            "the remote object does not exist and the management policies do not allow creating it",
          ),
          condition("Synced", "True", reasons.reconcileSuccess),
        ],
      });
      return undefined;
    }
    const a = current.metadata.annotations ?? {};
    if (a[annotations.keptFor] && a[annotations.managedResource] === s.key) {
      // Taken up again by the claim it was kept for: no longer kept. The
      // note goes once the record is written; until then every pass notes it.
      this.kept.takenUp(mr.spec.providerConfigRef.name, current, async () => {
        await remote.client.mergePatch(ref.apiVersion, ref.kind, ref.name, ref.namespace, {
          metadata: { annotations: { [annotations.keptFor]: null } },
        });
      });
    }
    const related = new Map<string, KubeObject | undefined>();
    for (const r of kind.behaviour.related?.(mr.spec.forProvider.manifest) ?? []) {
      related.set(
        relatedKey(r),
        await this.observe(s, remote, { ...r, namespace: ref.namespace }, unknownReady),
      );
    }
    const notReady = kind.behaviour.notReady(current, related);
    const nudge = await this.nudgeIfStalled(s, remote, current, related, log);
    await s.report({
      conditions: [
        notReady
          ? condition("Ready", "False", reasons.creating, notReady)
          : condition("Ready", "True", reasons.available),
        stale && !this.can(mr, observed ? "Update" : "Create")
          ? condition(
              "Synced",
              "True",
              reasons.reconcileSuccess,
              "observed only: the remote object differs and the management policies do not allow updating it",
            )
          : condition("Synced", "True", reasons.reconcileSuccess),
      ],
      atProvider: { ...atProviderOf(kind, current, related), ...this.kafkaLive(mr) },
    });
    return nudge;
  }

  /**
   * A normal ordering, not a failure: no warning, a look again soon. A new
   * managed resource (no Ready condition yet) waits quietly for
   * orderingGraceMs, since most such waits end within a second and each
   * status write is a watch event that Crossplane's XR circuit breaker counts
   * (ADR 0017); meanwhile it has no status, which says "not observed yet". A
   * longer wait, or one of a resource that has reported before, is reported.
   */
  private async waitFor(s: Subject, why: string, requeueAfterMs: number): Promise<ReconcileResult> {
    const { mr, key } = s;
    const now = Date.now();
    const since = this.waits.get(key) ?? now;
    this.waits.set(key, since);
    const waited = now - since;
    const grace = this.deps.orderingGraceMs ?? 5000;
    const fresh = !mr.status?.conditions?.some((c) => c.type === "Ready");
    if (fresh && waited < grace)
      return { requeueAfterMs: Math.min(requeueAfterMs, grace - waited) };
    await s.report({
      conditions: [
        condition("Ready", "False", reasons.creating, why),
        condition("Synced", "True", reasons.reconcileSuccess, why),
      ],
    });
    return { requeueAfterMs };
  }

  /** A RemoteKafka's `kafka` field: the admin channel's view of its cluster. */
  private kafkaLive(mr: ManagedResource): { kafka?: KafkaLive } {
    const admin = mr.spec.forProvider.kafkaAdmin;
    const live = admin ? this.deps.kafkaLive?.(admin.authority) : undefined;
    return live ? { kafka: live } : {};
  }

  /**
   * A need, from the watch cache; an object the cache cannot see (made by
   * someone else, without our label) is read directly.
   */
  private async observeNeed(
    s: Subject,
    remote: RemoteClient,
    ref: { apiVersion: string; kind: string; namespace: string; name: string },
    ready: Omit<Condition, "lastTransitionTime">,
  ): Promise<KubeObject | undefined> {
    const cached = await this.observe(s, remote, ref, ready);
    return cached ?? remote.client.find(ref.apiVersion, ref.kind, ref.name, ref.namespace);
  }

  /**
   * When the remote operator has let the object stall (a podset's pod missing)
   * for longer than the grace period, touches the object: an annotation change
   * is enough for the operator's informer to deliver it again, instead of
   * waiting minutes for its resync. Never creates what the operator creates.
   */
  private async nudgeIfStalled(
    s: Subject,
    remote: RemoteClient,
    current: KubeObject,
    related: Related,
    log: Logger,
  ): Promise<ReconcileResult> {
    const { kind, mr } = s;
    const ref = this.remoteRef(mr);
    const key = `${mr.spec.providerConfigRef.name}|${ref.namespace}|${ref.kind}|${ref.name}`;
    // A touch is a write: not for an object being deleted, nor one the
    // management policies only let us observe.
    const stalled =
      current.metadata.deletionTimestamp || !this.can(mr, "Update")
        ? undefined
        : kind.behaviour.stalled?.(current, related);
    if (!stalled) {
      this.stalls.delete(key);
      return undefined;
    }
    const now = Date.now();
    const since = this.stalls.get(key) ?? now;
    this.stalls.set(key, since);
    const grace = this.deps.stallGraceMs ?? 10_000;
    if (now - since < grace) return { requeueAfterMs: grace - (now - since) };
    const at = this.deps.now();
    await remote.client.mergePatch(ref.apiVersion, ref.kind, ref.name, ref.namespace, {
      metadata: { annotations: { [annotations.nudgedAt]: at } },
    });
    this.stalls.set(key, now);
    const message = `${stalled} for ${Math.round((now - since) / 1000)}s in cluster ${mr.spec.providerConfigRef.name}: touched ${ref.kind} ${ref.namespace}/${ref.name} (${annotations.nudgedAt}) so that its operator looks at it again`;
    log.warn({ remote: `${ref.kind} ${ref.namespace}/${ref.name}` }, message);
    await this.deps.events.record(s.involved, "Warning", "NudgedRemoteOperator", message);
    return { requeueAfterMs: grace };
  }

  private async delete(s: Subject, remote: RemoteClient, log: Logger): Promise<ReconcileResult> {
    this.waits.delete(s.key);
    if (!s.mr.metadata.finalizers?.includes(finalizer)) return undefined;
    const removed = await this.remove(s, remote, log, s.key);
    // The record of what it kept is written before it goes: a claim created
    // again reads it once this resource is gone.
    await this.kept.write(s.mr.spec.providerConfigRef.name);
    if (removed !== "gone") return removed;
    await this.release(s.kind, s.mr);
    return undefined;
  }

  /**
   * Deletes the subject's remote object, or leaves it in place (Orphan, or
   * another managed resource's): "gone" once nothing is left to do, else when
   * to look again. An anchor waits for what it owns, except what `except`
   * names (the resource itself, or its whole set, which orders its own).
   */
  async remove(
    s: Subject,
    remote: RemoteClient,
    log: Logger,
    except: string,
  ): Promise<ReconcileResult | "gone"> {
    const { mr } = s;
    this.waits.delete(s.key);
    const ref = this.remoteRef(mr);
    const pc = mr.spec.providerConfigRef.name;
    const deleting = condition("Ready", "False", reasons.deleting);

    const observed = await this.observe(s, remote, ref, deleting);
    const orphan = mr.spec.deletionPolicy === "Orphan" || !this.can(mr, "Delete");
    const owner = this.otherManager(s, observed)?.is;
    // The anchor goes last: its deletion cascades to whatever it still owns.
    // (Not for an anchor another resource manages: this one never touches it;
    // nor for one left in place: nothing cascades, and what it owns may be
    // entries of the sets taking its objects over, which never go.)
    const owned =
      owner || orphan ? [] : this.deps.ownedByAnchor(pc, ref.namespace, ref.name, except);
    if (ref.kind === "ConfigMap" && !mr.spec.forProvider.ownerAnchor && owned.length > 0) {
      await s.report({
        conditions: [
          condition(
            "Ready",
            "False",
            reasons.deleting,
            `waiting for ${owned.length} managed resource(s) owned by this anchor to go first, e.g. ${owned[0] ?? ""}`,
          ),
          condition("Synced", "True", reasons.reconcileSuccess),
        ],
      });
      return { requeueAfterMs: 2000 };
    }
    const released =
      observed &&
      !observed.metadata.annotations?.[annotations.managedResource] &&
      observed.metadata.annotations?.[annotations.keptFor] === keptFor(mr);
    if (orphan && released) {
      // Left in place already (a set's entry asked again while the set goes):
      // only its record, should the write of the pass that left it have failed.
      this.kept.kept(pc, mr, observed);
    } else if (owner) {
      // Never delete what another managed resource keeps running.
      await this.deps.events.record(
        s.involved,
        "Normal",
        "OrphanedExternalResource",
        `left ${ref.kind} ${ref.namespace}/${ref.name} in cluster ${pc} in place: it is ${owner}`,
      );
    } else if (observed) {
      try {
        if (orphan) {
          // Release it: no owner reference (the anchor's deletion leaves it
          // alone), no claim on it by this managed resource, and a note of
          // whom it is kept for, so that the same claim asked again adopts it.
          await remote.client.mergePatch(ref.apiVersion, ref.kind, ref.name, ref.namespace, {
            metadata: {
              ownerReferences: null,
              annotations: {
                [annotations.managedResource]: null,
                [annotations.appliedHash]: null,
                [annotations.keptFor]: keptFor(mr),
              },
            },
          });
          this.kept.kept(pc, mr, observed);
          log.info(
            { remote: `${ref.kind} ${ref.namespace}/${ref.name}` },
            "orphaned remote object",
          );
          await this.deps.events.record(
            s.involved,
            "Normal",
            "OrphanedExternalResource",
            `left ${ref.kind} ${ref.namespace}/${ref.name} in cluster ${pc} in place (deletionPolicy Orphan), kept for ${keptFor(mr)}`,
          );
        } else {
          await remote.client.delete(ref.apiVersion, ref.kind, ref.name, ref.namespace, {
            propagationPolicy: "Background",
          });
          log.info({ remote: `${ref.kind} ${ref.namespace}/${ref.name}` }, "deleted remote object");
          await this.deps.events.record(
            s.involved,
            "Normal",
            "DeletedExternalResource",
            `deleted ${ref.kind} ${ref.namespace}/${ref.name} in cluster ${pc}`,
          );
          await s.report({
            conditions: [deleting, condition("Synced", "True", reasons.reconcileSuccess)],
          });
          // The watch sees it go; look again soon in any case.
          return { requeueAfterMs: 2000 };
        }
      } catch (err) {
        const message = `cannot ${orphan ? "orphan" : "delete"} ${ref.kind} ${ref.namespace}/${ref.name}: ${describeError(err)}`;
        await s.report({
          conditions: [deleting, condition("Synced", "False", reasons.reconcileError, message)],
        });
        throw new Error(message, { cause: err });
      }
    }
    return "gone";
  }

  /** The cluster is gone for good: release the resource without touching it. */
  private async abandon(
    kind: ManagedKind,
    mr: ManagedResource,
    log: Logger,
  ): Promise<ReconcileResult> {
    const pc = mr.spec.providerConfigRef.name;
    const ref = this.remoteRef(mr);
    if (!mr.metadata.deletionTimestamp) {
      await this.report(kind, mr, { conditions: [abandonedCondition(pc)] });
      return undefined;
    }
    if (!mr.metadata.finalizers?.includes(finalizer)) return undefined;
    const message = `released without deleting ${ref.kind} ${ref.namespace}/${ref.name}: cluster ${pc} is abandoned; delete it by hand should the cluster return`;
    log.warn({ remote: `${ref.kind} ${ref.namespace}/${ref.name}` }, "abandoned remote object");
    await this.deps.events.record(mr, "Warning", "AbandonedExternalResource", message);
    await this.release(kind, mr);
    return undefined;
  }

  /** Whether the managed resource a remote object names is one this central cluster does not have. */
  private unknownManager(observed: KubeObject | undefined): boolean {
    const by = observed?.metadata.annotations?.[annotations.managedResource] ?? "";
    const [kind, name] = by.split("/");
    if (!kind || !name) return false;
    return kind === "RemoteObjectSet" ? !this.deps.hasSet?.(name) : !this.deps.read(kind, name);
  }

  /**
   * Why the remote object is not this managed resource's to apply: another
   * one manages it, or it is kept for another claim, or for this claim but
   * with the data of another Kafka cluster (a claim created again before its
   * previous composite was gone did not see the volume kept, and chose a new
   * cluster id: taking the volume up would relabel data Kafka cannot read).
   */
  private otherManager(
    s: Subject,
    observed: KubeObject | undefined,
  ): { is: string; then: string } | undefined {
    const by = observed?.metadata.annotations?.[annotations.managedResource];
    const shared =
      "; two managed resources cannot share one remote object: delete one of them or give its manifest another name";
    if (by)
      return by !== s.key && !s.adopts?.(by)
        ? { is: `already managed by ${by}`, then: shared }
        : undefined;
    // Left in place by a deleted managed resource: only for whom it was kept.
    const kept = observed?.metadata.annotations?.[annotations.keptFor];
    if (!kept) return undefined;
    if (!mayTakeUp(s.mr, kept))
      return { is: `kept for ${kept}, whose data it holds`, then: shared };
    const holds = observed.metadata.annotations?.[volumeAnnotations.clusterId];
    const wants =
      s.mr.spec.forProvider.manifest.metadata.annotations?.[volumeAnnotations.clusterId];
    return holds && wants && holds !== wants
      ? {
          is: `kept for ${kept} with the data of Kafka cluster ${holds}, not of this composite's Kafka cluster ${wants}`,
          then: ": nothing was changed. This claim was created again before its previous composite was gone, so it did not see its volumes kept and chose a new Kafka cluster; delete this claim, wait until the previous composite's managed resources are gone, and create it again: it then takes the kept volumes up with their Kafka cluster id",
        }
      : undefined;
  }

  private async release(kind: ManagedKind, mr: ManagedResource): Promise<void> {
    await release(this.deps, kind, mr);
  }

  /** Writes status.atProvider and conditions, only when they change. */
  private async report(kind: ManagedKind, mr: ManagedResource, outcome: Outcome): Promise<void> {
    const next = statusAfter(mr.status, mr.metadata.generation, outcome, this.deps.now());
    if (sameStatus(mr.status, mr.metadata.generation, next)) return;
    await this.deps.central.apply(
      {
        apiVersion: kind.apiVersion,
        kind: kind.kind,
        metadata: { name: mr.metadata.name ?? "" },
        status: next,
      },
      { fieldManager, subresource: "status", force: true },
    );
  }
}
