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
import { finalizers, type KafkaLive } from "../../apis/index.ts";
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
import { KubeApiError, type KubeObject } from "../kube/dynamic.ts";
import { describeError, kubeStatus } from "../kube/errors.ts";
import { fieldManagers } from "../field-managers.ts";
import { TerminalError, type ReconcileResult } from "../runtime/workqueue.ts";
import type { RemoteClient, RemoteClients } from "./clients.ts";
import { condition, mergeConditions, reasons } from "./conditions.ts";
import { CredentialsError } from "./credentials.ts";
import { annotations, covers, desiredObject, keptFor } from "./desired.ts";
import { forgetKept, recordKept } from "./kept-volumes.ts";
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
    ) => Promise<unknown>;
  };
  clients: Pick<RemoteClients, "get" | "providerConfig">;
  remote: Pick<RemoteCache, "get">;
  /** The managed resource as last seen by the central watch. */
  read(kind: string, name: string): ManagedResource | undefined;
  /** Managed resources (other than `except`) whose remote objects the named anchor owns. */
  ownedByAnchor(
    providerConfig: string,
    namespace: string,
    anchor: string,
    except: string,
  ): string[];
  secrets: SecretSource;
  /** Records (once) that the resource uses its ProviderConfig, and forgets it. */
  usage: {
    ensure(kind: ManagedKind, mr: ManagedResource): Promise<void>;
    release(kind: ManagedKind, mr: ManagedResource): Promise<void>;
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

type Outcome = {
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
const asStored = (value: unknown): unknown =>
  value === undefined ? undefined : (JSON.parse(JSON.stringify(value)) as unknown);

/** How a remote object names the managed resource that applied it. */
const mrKey = (kind: ManagedKind, mr: ManagedResource): string =>
  `${kind.kind}/${mr.metadata.name ?? ""}`;

export class ManagedReconciler {
  /** Since when each remote object has been seen stalled (kind behaviour `stalled`). */
  private readonly stalls = new Map<string, number>();
  /** Since when each new managed resource has waited for an object it needs (the anchor, its kind's needs). */
  private readonly waits = new Map<string, number>();

  constructor(private readonly deps: ReconcilerDeps) {}

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

    if (mr.metadata.annotations?.[apiAnnotations.paused] === "true") {
      await this.report(kind, mr, {
        conditions: [
          condition(
            "Synced",
            "False",
            reasons.reconcilePaused,
            "reconciliation is paused (crossplane.io/paused)",
          ),
        ],
      });
      return undefined;
    }
    const valid = validate(kind.kind, mr);
    if (!valid.valid) {
      const message = `invalid ${kind.kind}: ${formatErrors(valid.errors)}`;
      await this.report(kind, mr, {
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
      await this.report(kind, mr, {
        conditions: [condition("Synced", "False", reasons.reconcileError, err.message)],
      });
      // Fixing the ProviderConfig or its Secret re-queues this; look again now and then anyway.
      return { requeueAfterMs: 60_000 };
    }

    if (mr.metadata.deletionTimestamp) return this.delete(kind, mr, remote, log);
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
    return this.sync(kind, mr, remote, log);
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
    kind: ManagedKind,
    mr: ManagedResource,
    remote: RemoteClient,
    ref: { apiVersion: string; kind: string; namespace: string; name: string },
    ready: Omit<Condition, "lastTransitionTime">,
  ): Promise<KubeObject | undefined> {
    const seen = await this.deps.remote.get(mr.spec.providerConfigRef.name, remote, ref);
    if (seen.synced) return seen.object;
    const why = `cluster ${mr.spec.providerConfigRef.name} (${remote.server}) is unreachable: ${seen.health.lastError ?? "no answer yet"}`;
    await this.report(kind, mr, {
      conditions: [ready, condition("Synced", "False", reasons.clusterUnreachable, why)],
      unobserved: true,
    });
    throw new Error(why);
  }

  private async sync(
    kind: ManagedKind,
    mr: ManagedResource,
    remote: RemoteClient,
    log: Logger,
  ): Promise<ReconcileResult> {
    const ref = this.remoteRef(mr);
    const unknownReady = condition(
      "Ready",
      "Unknown",
      reasons.unavailable,
      "cannot see the remote object",
    );
    const observed = await this.observe(kind, mr, remote, ref, unknownReady);
    const owner = this.otherManager(kind, mr, observed);
    if (owner) {
      const what = `${ref.kind} ${ref.namespace}/${ref.name} in cluster ${mr.spec.providerConfigRef.name} is ${owner}`;
      const unknown = this.unknownManager(observed);
      const message = unknown
        ? `${what}, which this central cluster does not have: nothing was changed. If this central cluster replaces a lost one, delete this claim and restore the lost one's backup instead (stretch-kafka restore; docs/operations.md, "Backing up and restoring the central cluster"); if that managed resource was released from an abandoned cluster, delete the remote object by hand`
        : `${what}; two managed resources cannot share one remote object: delete one of them or give its manifest another name`;
      await this.report(kind, mr, {
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
      await this.deps.events.record(mr, "Warning", "CannotUpdateExternalResource", message);
      // The other one may go away; nothing of ours is watched on that object.
      return { requeueAfterMs: 30_000 };
    }

    let anchor: { name: string; uid: string } | undefined;
    const anchorName = mr.spec.forProvider.ownerAnchor?.name;
    if (anchorName) {
      const a = await this.observe(
        kind,
        mr,
        remote,
        { apiVersion: "v1", kind: "ConfigMap", namespace: ref.namespace, name: anchorName },
        unknownReady,
      );
      if (!a?.metadata.uid) {
        return this.waitFor(
          kind,
          mr,
          `waiting for the anchor ConfigMap ${ref.namespace}/${anchorName}`,
          2000,
        );
      }
      anchor = { name: anchorName, uid: a.metadata.uid };
    }

    const needs = kind.behaviour.needs?.(mr.spec.forProvider.manifest) ?? [];
    if (typeof needs === "string") {
      const message = `cannot apply ${ref.kind} ${ref.namespace}/${ref.name}: ${needs}`;
      await this.report(kind, mr, {
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
        kind,
        mr,
        remote,
        { ...need, namespace: ref.namespace },
        unknownReady,
      );
      const why = !there
        ? `waiting for ${need.kind} ${ref.namespace}/${need.name} to exist in cluster ${mr.spec.providerConfigRef.name}`
        : need.unusable?.(there) &&
          `waiting for ${need.kind} ${ref.namespace}/${need.name} in cluster ${mr.spec.providerConfigRef.name}: ${need.unusable(there)}`;
      if (why) return this.waitFor(kind, mr, why, 1000);
    }
    this.waits.delete(mrKey(kind, mr));

    let data: Record<string, string> | undefined;
    if (kind.kind === "RemoteSecret") {
      try {
        data = await this.deps.secrets(mr, observed);
      } catch (err) {
        await this.report(kind, mr, {
          conditions: [condition("Synced", "False", reasons.reconcileError, describeError(err))],
        });
        throw err;
      }
    }

    const desired = desiredObject({
      manifest: mr.spec.forProvider.manifest,
      mrKey: mrKey(kind, mr),
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
        if (observed?.metadata.annotations?.[annotations.keptFor]) {
          // Taken up again by the claim it was kept for: no longer kept.
          await forgetKept(
            (o, opts) => this.deps.central.apply(o, opts),
            mr.spec.providerConfigRef.name,
            observed,
          );
          await remote.client.mergePatch(ref.apiVersion, ref.kind, ref.name, ref.namespace, {
            metadata: { annotations: { [annotations.keptFor]: null } },
          });
        }
        const what = `${ref.kind} ${ref.namespace}/${ref.name} in cluster ${mr.spec.providerConfigRef.name}`;
        log.info({ remote: what }, observed ? "updated remote object" : "created remote object");
        await this.deps.events.record(
          mr,
          "Normal",
          observed ? "UpdatedExternalResource" : "CreatedExternalResource",
          observed ? `updated ${what} to what this resource asks for` : `created ${what}`,
        );
      } catch (err) {
        const message = `cannot apply ${ref.kind} ${ref.namespace}/${ref.name}: ${describeError(err)}`;
        await this.report(kind, mr, {
          conditions: [condition("Synced", "False", reasons.reconcileError, message)],
        });
        await this.deps.events.record(
          mr,
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
      await this.report(kind, mr, {
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
    const related = new Map<string, KubeObject | undefined>();
    for (const r of kind.behaviour.related?.(mr.spec.forProvider.manifest) ?? []) {
      related.set(
        relatedKey(r),
        await this.observe(kind, mr, remote, { ...r, namespace: ref.namespace }, unknownReady),
      );
    }
    const notReady = kind.behaviour.notReady(current, related);
    const nudge = await this.nudgeIfStalled(kind, mr, remote, current, related, log);
    await this.report(kind, mr, {
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
  private async waitFor(
    kind: ManagedKind,
    mr: ManagedResource,
    why: string,
    requeueAfterMs: number,
  ): Promise<ReconcileResult> {
    const key = mrKey(kind, mr);
    const now = Date.now();
    const since = this.waits.get(key) ?? now;
    this.waits.set(key, since);
    const waited = now - since;
    const grace = this.deps.orderingGraceMs ?? 5000;
    const fresh = !mr.status?.conditions?.some((c) => c.type === "Ready");
    if (fresh && waited < grace)
      return { requeueAfterMs: Math.min(requeueAfterMs, grace - waited) };
    await this.report(kind, mr, {
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
    kind: ManagedKind,
    mr: ManagedResource,
    remote: RemoteClient,
    ref: { apiVersion: string; kind: string; namespace: string; name: string },
    ready: Omit<Condition, "lastTransitionTime">,
  ): Promise<KubeObject | undefined> {
    const cached = await this.observe(kind, mr, remote, ref, ready);
    return cached ?? remote.client.find(ref.apiVersion, ref.kind, ref.name, ref.namespace);
  }

  /**
   * When the remote operator has let the object stall (a podset's pod missing)
   * for longer than the grace period, touches the object: an annotation change
   * is enough for the operator's informer to deliver it again, instead of
   * waiting minutes for its resync. Never creates what the operator creates.
   */
  private async nudgeIfStalled(
    kind: ManagedKind,
    mr: ManagedResource,
    remote: RemoteClient,
    current: KubeObject,
    related: Related,
    log: Logger,
  ): Promise<ReconcileResult> {
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
    await this.deps.events.record(mr, "Warning", "NudgedRemoteOperator", message);
    return { requeueAfterMs: grace };
  }

  private async delete(
    kind: ManagedKind,
    mr: ManagedResource,
    remote: RemoteClient,
    log: Logger,
  ): Promise<ReconcileResult> {
    this.waits.delete(mrKey(kind, mr));
    if (!mr.metadata.finalizers?.includes(finalizer)) return undefined;
    const ref = this.remoteRef(mr);
    const pc = mr.spec.providerConfigRef.name;
    const deleting = condition("Ready", "False", reasons.deleting);

    // The anchor goes last: its deletion cascades to whatever it still owns.
    const owned = this.deps.ownedByAnchor(pc, ref.namespace, ref.name, mr.metadata.name ?? "");
    if (ref.kind === "ConfigMap" && !mr.spec.forProvider.ownerAnchor && owned.length > 0) {
      await this.report(kind, mr, {
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

    const observed = await this.observe(kind, mr, remote, ref, deleting);
    const orphan = mr.spec.deletionPolicy === "Orphan" || !this.can(mr, "Delete");
    const owner = this.otherManager(kind, mr, observed);
    if (owner) {
      // Never delete what another managed resource keeps running.
      await this.deps.events.record(
        mr,
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
          await recordKept((o, opts) => this.deps.central.apply(o, opts), pc, mr, observed);
          log.info(
            { remote: `${ref.kind} ${ref.namespace}/${ref.name}` },
            "orphaned remote object",
          );
          await this.deps.events.record(
            mr,
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
            mr,
            "Normal",
            "DeletedExternalResource",
            `deleted ${ref.kind} ${ref.namespace}/${ref.name} in cluster ${pc}`,
          );
          await this.report(kind, mr, {
            conditions: [deleting, condition("Synced", "True", reasons.reconcileSuccess)],
          });
          // The watch sees it go; look again soon in any case.
          return { requeueAfterMs: 2000 };
        }
      } catch (err) {
        const message = `cannot ${orphan ? "orphan" : "delete"} ${ref.kind} ${ref.namespace}/${ref.name}: ${describeError(err)}`;
        await this.report(kind, mr, {
          conditions: [deleting, condition("Synced", "False", reasons.reconcileError, message)],
        });
        throw new Error(message, { cause: err });
      }
    }
    await this.release(kind, mr);
    return undefined;
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
      await this.report(kind, mr, {
        conditions: [
          condition(
            "Synced",
            "False",
            "Abandoned",
            `ProviderConfig ${pc} is abandoned (${abandonAnnotation}); nothing is applied to its cluster`,
          ),
        ],
      });
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
    return !!kind && !!name && !this.deps.read(kind, name);
  }

  /** Why the remote object is not this managed resource's to apply: another one manages it, or it is kept for another claim. */
  private otherManager(
    kind: ManagedKind,
    mr: ManagedResource,
    observed: KubeObject | undefined,
  ): string | undefined {
    const by = observed?.metadata.annotations?.[annotations.managedResource];
    if (by) return by !== mrKey(kind, mr) ? `already managed by ${by}` : undefined;
    // Left in place by a deleted managed resource: only for whom it was kept.
    const kept = observed?.metadata.annotations?.[annotations.keptFor];
    return kept && kept !== keptFor(mr) ? `kept for ${kept}, whose data it holds` : undefined;
  }

  /**
   * Lets the managed resource go: its usage record, then our finalizer. A
   * merge patch, not an apply: the composer applied the finalizer too, and an
   * apply only gives up our own claim on it. The resourceVersion makes it a
   * compare-and-swap, so another finalizer added meanwhile is not lost.
   */
  private async release(kind: ManagedKind, mr: ManagedResource): Promise<void> {
    await this.deps.usage.release(kind, mr);
    const name = mr.metadata.name ?? "";
    const left = (mr.metadata.finalizers ?? []).filter((f) => f !== finalizer);
    try {
      await this.deps.central.mergePatch(kind.apiVersion, kind.kind, name, undefined, {
        metadata: { finalizers: left, resourceVersion: mr.metadata.resourceVersion },
      });
    } catch (err) {
      // Gone already (the watch has seen it go): there is nothing left to release.
      if (err instanceof KubeApiError && err.code === 404) return;
      throw err;
    }
  }

  /** Writes status.atProvider and conditions, only when they change. */
  private async report(kind: ManagedKind, mr: ManagedResource, outcome: Outcome): Promise<void> {
    const conditions = mergeConditions(
      mr.status?.conditions,
      outcome.conditions,
      this.deps.now(),
      mr.metadata.generation,
    );
    const atProvider = outcome.atProvider ?? mr.status?.atProvider;
    // observedGeneration too: readers (the function's upgrade gate) tell from it
    // whether atProvider describes the spec they see. Compared as the API
    // server keeps them: keys in any order, no undefined members.
    const observedGeneration = outcome.unobserved
      ? mr.status?.observedGeneration
      : mr.metadata.generation;
    const unchanged =
      isEqual(asStored(conditions), mr.status?.conditions ?? []) &&
      isEqual(asStored(atProvider), mr.status?.atProvider) &&
      (mr.status?.observedGeneration ?? mr.metadata.generation) ===
        (observedGeneration ?? mr.metadata.generation);
    if (unchanged) return;
    await this.deps.central.apply(
      {
        apiVersion: kind.apiVersion,
        kind: kind.kind,
        metadata: { name: mr.metadata.name ?? "" },
        status: {
          ...(atProvider ? { atProvider } : {}),
          conditions,
          ...(observedGeneration !== undefined ? { observedGeneration } : {}),
        },
      },
      { fieldManager, subresource: "status", force: true },
    );
  }
}
