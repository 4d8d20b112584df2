/**
 * RemoteObjectSet: the remote objects of one Kafka cluster in one remote
 * cluster, under one managed resource (docs/adr/0026). Each entry is
 * reconciled exactly as a managed resource of its kind would be (the same
 * ManagedReconciler code: needs, the anchor's owner reference, hand edits
 * undone, Orphan and Delete, conflicts with other managers); what differs is
 * that the set writes one status for all of them, once per reconcile and only
 * when it changes, so that Crossplane's XR circuit breaker sees a few watch
 * events per remote cluster instead of a few per remote object.
 *
 * An entry that leaves the spec is deleted (or left in place, as its
 * deletionPolicy says) and then leaves status.atProvider.objects, which is how
 * the provider remembers what it applied. Anchors go last: an entry whose
 * object owns others (their ownerAnchor) is deleted only once they are gone.
 */
import { randomUUID } from "node:crypto";
import isEqual from "lodash/isEqual.js";
import type { Logger } from "pino";
import {
  annotations as apiAnnotations,
  formatErrors,
  groups,
  validate,
  type Condition,
  type KafkaLive,
  type ManagedResource,
  type RemoteObjectSet,
  type RemoteObjectSetEntry,
  type RemoteObjectStatus,
} from "../../apis/index.ts";
import { entrySpecHash } from "../../apis/canonical.ts";
import { describeError } from "../kube/errors.ts";
import { TerminalError, type ReconcileResult } from "../runtime/workqueue.ts";
import type { RemoteClient } from "./clients.ts";
import { condition, mergeConditions, reasons } from "./conditions.ts";
import { CredentialsError } from "./credentials.ts";
import { kindOf } from "./kinds.ts";
import {
  abandonAnnotation,
  abandonedCondition,
  asStored,
  fieldManager,
  pausedCondition,
  finalizer,
  release,
  statusAfter,
  type ManagedReconciler,
  type Outcome,
  type ReconcilerDeps,
  type Subject,
} from "./reconciler.ts";

export const objectSetKind = { kind: "RemoteObjectSet", apiVersion: groups.remote } as const;

/** The key a set's entry stamps on its remote object (the managed-resource annotation). */
export const entryKey = (set: string, entry: string): string =>
  `${objectSetKind.kind}/${set}/${entry}`;

/** The work-queue key for a remote object's managed-resource annotation: a set's entry queues its set. */
export function queueKeyOf(annotation: string): string {
  const [kind = "", name = ""] = annotation.split("/");
  return kind === objectSetKind.kind ? `${kind}/${name}` : annotation;
}

export interface ObjectSetDeps {
  central: ReconcilerDeps["central"];
  clients: ReconcilerDeps["clients"];
  usage: ReconcilerDeps["usage"];
  events: ReconcilerDeps["events"];
  /** The set as last seen by the central watch. */
  read(name: string): RemoteObjectSet | undefined;
  /** Does each object's work, as for a managed resource of its kind. */
  objects: Pick<ManagedReconciler, "sync" | "remove" | "writeKept">;
  now(): string;
  log: Logger;
  /**
   * Least time between two status writes of one set that turn nothing
   * (default 5000 ms): an object's progress is written with whatever else
   * happens in that time, since every write is a watch event for its readers
   * (Crossplane's XR circuit breaker counts them). A set that has become
   * Ready or lost it, whose Synced turned, whose objects left or whose Kafka
   * view changed is written at once (worthNow).
   */
  statusIntervalMs?: number;
  /** Milliseconds since the epoch (tests give their own). */
  clock?: () => number;
}

type EntryStatus = RemoteObjectStatus;
type RemoteRef = EntryStatus["remote"];

const remoteOf = (e: RemoteObjectSetEntry): RemoteRef => ({
  apiVersion: e.forProvider.manifest.apiVersion,
  kind: e.forProvider.manifest.kind,
  namespace: e.forProvider.manifest.metadata.namespace,
  name: e.forProvider.manifest.metadata.name,
});

const isReady = (s: EntryStatus | undefined): boolean =>
  s?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

const failing = (s: EntryStatus | undefined): Condition | undefined =>
  s?.conditions?.find((c) => c.type === "Synced" && c.status === "False");

/** An entry seen as a managed resource of its kind: the set's metadata and policies, the entry's forProvider and status. */
function asManaged(
  set: RemoteObjectSet,
  kind: { apiVersion: string; kind: string },
  forProvider: RemoteObjectSetEntry["forProvider"],
  deletionPolicy: "Delete" | "Orphan",
  before: EntryStatus | undefined,
): ManagedResource {
  return {
    apiVersion: kind.apiVersion,
    kind: kind.kind,
    metadata: set.metadata,
    spec: {
      providerConfigRef: set.spec.providerConfigRef,
      deletionPolicy,
      managementPolicies: set.spec.managementPolicies ?? ["*"],
      forProvider,
    },
    ...(before
      ? {
          status: {
            ...(before.conditions ? { conditions: before.conditions } : {}),
            ...(before.atProvider ? { atProvider: before.atProvider } : {}),
            ...(before.observedGeneration !== undefined
              ? { observedGeneration: before.observedGeneration }
              : {}),
          },
        }
      : {}),
  } as ManagedResource;
}

/**
 * The set's entries of `kind` as the provider's other parts read managed
 * resources of that kind (the Kafka admin channel its RemoteKafkas, the roll
 * its podsets): spec and status as a managed resource of its own would have
 * them, and the set's identity, so that an event recorded on one lands on
 * the set.
 */
export function entriesOf(set: RemoteObjectSet, kind: string): ManagedResource[] {
  const statuses = new Map((set.status?.atProvider?.objects ?? []).map((o) => [o.name, o]));
  return set.spec.forProvider.objects
    .filter((e) => e.kind === kind)
    .map((e) =>
      asManaged(
        set,
        objectSetKind,
        e.forProvider,
        e.deletionPolicy ?? set.spec.deletionPolicy ?? "Delete",
        statuses.get(e.name),
      ),
    );
}

/**
 * Entries of the set, in its spec or in `remembered` (applied and not yet
 * removed), whose objects the anchor ConfigMap `namespace/anchor` owns.
 */
export function ownedByAnchorIn(
  set: RemoteObjectSet,
  remembered: readonly EntryStatus[],
  anchor: string,
  namespace: string,
): string[] {
  const owned = [
    ...set.spec.forProvider.objects.map((e) => ({
      name: e.name,
      anchor: e.forProvider.ownerAnchor?.name,
      namespace: e.forProvider.manifest.metadata.namespace,
    })),
    ...remembered.map((p) => ({
      name: p.name,
      anchor: p.ownerAnchor,
      namespace: p.remote.namespace,
    })),
  ];
  return [
    ...new Set(
      owned.filter((x) => x.anchor === anchor && x.namespace === namespace).map((x) => x.name),
    ),
  ];
}

/**
 * What of a set's status is written at once: its Ready and Synced, which
 * objects it lists, and the Kafka view its RemoteKafka entry reports.
 */
export interface Turning {
  conditions: Condition[];
  objects: string[];
  /**
   * Per entry reporting Kafka's live view (a RemoteKafka), that view: the
   * provider asks Kafka every 30 s (5 s while replicas move), and day-2
   * steps (a broker drained, a rebalance's batch, data no longer at risk)
   * and a person draining a node act on it; a node drain's release can last
   * less than the interval (kubectl drain retries every 5 s). Written as it
   * changes, as a RemoteKafka per object was: at most one write per ask.
   */
  kafka?: string[];
}

/** Kafka's live view per entry reporting one, as `Turning.kafka`. */
function kafkaOf(objects: EntryStatus[]): string[] {
  return objects.flatMap((o) => {
    const live = (o.atProvider as { kafka?: { live?: KafkaLive } } | undefined)?.kafka?.live;
    return live ? [`${o.name} ${JSON.stringify(live)}`] : [];
  });
}

const statusOf = (cs: Condition[] | undefined, type: string): string | undefined =>
  cs?.find((c) => c.type === type)?.status;

/**
 * Whether a status is written without waiting out the interval: the set has
 * become Ready, or is no longer Ready with the same objects (a pod evicted or
 * restarting: what is there changed, and Ready must not stay behind), or its
 * Synced has turned False or back (a failure, or one over), or an object has
 * left its status (one removed from the spec is gone: what a removal waits
 * for), or Kafka's live view changed (asked every 30 s, 5 s while replicas
 * move; a node drain's turns are in it). Anything else waits and goes with
 * what follows it: an object's progress (a pool's ready pods, one of several
 * objects turning Ready), objects appearing (a new set's first status,
 * objects added to the spec: created, not ready yet, which its readers see
 * missing from the status and wait for anyway), a spec change observed that
 * changed nothing else.
 */
export function worthNow(before: Turning | undefined, after: Turning): boolean {
  const synced = statusOf(after.conditions, "Synced");
  const wasSynced = statusOf(before?.conditions, "Synced");
  const left = (before?.objects ?? []).filter((o) => !after.objects.includes(o));
  const added = after.objects.filter((o) => !(before?.objects ?? []).includes(o));
  const ready = statusOf(after.conditions, "Ready") === "True";
  const wasReady = statusOf(before?.conditions, "Ready") === "True";
  return (
    (ready && !wasReady) ||
    (wasReady && !ready && added.length === 0) ||
    (synced === "False") !== (wasSynced === "False") ||
    left.length > 0 ||
    (before?.kafka ?? []).join("\n") !== (after.kafka ?? []).join("\n")
  );
}

/** Up to three items, and how many more. */
function some(items: string[]): string {
  const shown = items.slice(0, 3).join("; ");
  return items.length > 3 ? `${shown}; and ${items.length - 3} more` : shown;
}

export class ObjectSetReconciler {
  /**
   * When each set's status was last written by this process, and what of it
   * turns (worthNow) then: what the next write is weighed against, since the
   * watch may not have brought that write back yet.
   */
  private readonly written = new Map<string, { at: number; turning: Turning }>();

  constructor(private readonly deps: ObjectSetDeps) {}

  async reconcile(name: string): Promise<ReconcileResult> {
    const set = this.deps.read(name);
    if (!set) {
      this.written.delete(name);
      return undefined;
    }
    const pcName = set.spec.providerConfigRef.name;
    const log = this.deps.log.child({
      mr: `${objectSetKind.kind}/${name}`,
      cluster: pcName,
      reconcileId: randomUUID().slice(0, 8),
    });
    const statuses = new Map(
      (set.status?.atProvider?.objects ?? []).map((o) => [o.name, o] as const),
    );

    if (set.metadata.annotations?.[apiAnnotations.paused] === "true") {
      await this.write(set, statuses, [pausedCondition]);
      return undefined;
    }
    const valid = validate("RemoteObjectSet", set);
    if (!valid.valid) {
      const message = `invalid RemoteObjectSet: ${formatErrors(valid.errors)}`;
      await this.write(set, statuses, [
        condition("Synced", "False", reasons.reconcileError, message),
      ]);
      throw new TerminalError(message);
    }

    const pc = this.deps.clients.providerConfig(pcName);
    if (pc?.metadata.annotations?.[abandonAnnotation] === "true") return this.abandon(set, log);

    let remote: RemoteClient;
    try {
      remote = await this.deps.clients.get(pcName);
    } catch (err) {
      if (!(err instanceof CredentialsError)) throw err;
      await this.write(set, statuses, [
        condition("Synced", "False", reasons.reconcileError, err.message),
      ]);
      // Fixing the ProviderConfig or its Secret re-queues this; look again now and then anyway.
      return { requeueAfterMs: 60_000 };
    }

    if (set.metadata.deletionTimestamp) return this.delete(set, statuses, remote, log);
    await this.deps.usage.ensure(objectSetKind, set);
    if (!set.metadata.finalizers?.includes(finalizer)) {
      await this.deps.central.apply(
        { ...objectSetKind, metadata: { name, finalizers: [finalizer] } },
        { fieldManager },
      );
    }

    const results: ReconcileResult[] = [];
    const errors: unknown[] = [];
    const run = async (work: () => Promise<ReconcileResult | "gone">): Promise<boolean> => {
      try {
        const r = await work();
        if (r === "gone") return true;
        results.push(r);
      } catch (err) {
        errors.push(err);
      }
      return false;
    };

    const wanted = set.spec.forProvider.objects;
    for (const e of wanted) {
      const s = this.subject(set, e, statuses);
      const v = validate(s.kind.kind, s.mr);
      if (!v.valid) {
        await s.report({
          conditions: [
            condition(
              "Synced",
              "False",
              reasons.reconcileError,
              `invalid ${e.kind}: ${formatErrors(v.errors)}`,
            ),
          ],
        });
        continue;
      }
      await run(() => this.deps.objects.sync(s, remote, log));
    }

    // What left the spec: deleted or orphaned, owners last.
    const names = new Set(wanted.map((e) => e.name));
    const leaving = [...statuses.values()].filter((o) => !names.has(o.name));
    for (const o of leaving) {
      const owned = this.ownedInSet(o, [...statuses.values()], set);
      if (owned.length > 0) {
        await this.leavingSubject(set, o, statuses).report({
          conditions: [
            condition(
              "Ready",
              "False",
              reasons.deleting,
              `waiting for ${owned.length} object(s) it owns to go first, e.g. ${owned[0] ?? ""}`,
            ),
          ],
        });
        results.push({ requeueAfterMs: 2000 });
        continue;
      }
      const s = this.leavingSubject(set, o, statuses);
      if (await run(() => this.deps.objects.remove(s, remote, log, this.key(set))))
        statuses.delete(o.name);
    }
    // One write of the cluster's kept-volume record for the whole pass.
    await run(async () => {
      await this.deps.objects.writeKept(set.spec.providerConfigRef.name);
      return undefined;
    });

    const wait = await this.write(set, statuses, this.conditions(set, statuses), true);
    if (wait !== undefined) results.push({ requeueAfterMs: wait });
    throwFirst(errors);
    return soonest(results);
  }

  private key(set: RemoteObjectSet): string {
    return `${objectSetKind.kind}/${set.metadata.name ?? ""}`;
  }

  /** An entry seen as a managed resource of its kind; its reports land in `statuses`. */
  private subject(
    set: RemoteObjectSet,
    e: RemoteObjectSetEntry,
    statuses: Map<string, EntryStatus>,
  ): Subject {
    const kind = kindOf(e.kind);
    // The schema's enum lists only managed kinds.
    if (!kind) throw new TerminalError(`unknown kind ${e.kind} in entry ${e.name}`);
    const deletionPolicy = e.deletionPolicy ?? set.spec.deletionPolicy ?? "Delete";
    const specHash = entrySpecHash(e.forProvider);
    const record = (): Omit<EntryStatus, "conditions"> => ({
      name: e.name,
      kind: e.kind,
      remote: remoteOf(e),
      deletionPolicy,
      specHash,
      ...(e.forProvider.ownerAnchor ? { ownerAnchor: e.forProvider.ownerAnchor.name } : {}),
    });
    return this.asSubject(set, kind, e.forProvider, deletionPolicy, e.name, statuses, record);
  }

  /** An object no longer in the spec, from what status remembers of it. */
  private leavingSubject(
    set: RemoteObjectSet,
    o: EntryStatus,
    statuses: Map<string, EntryStatus>,
  ): Subject {
    const kind = kindOf(o.kind);
    if (!kind) throw new TerminalError(`unknown kind ${o.kind} in status entry ${o.name}`);
    const forProvider = {
      manifest: {
        apiVersion: o.remote.apiVersion,
        kind: o.remote.kind,
        metadata: { name: o.remote.name, namespace: o.remote.namespace },
      },
      ...(o.ownerAnchor ? { ownerAnchor: { name: o.ownerAnchor } } : {}),
    };
    const { conditions: _c, atProvider: _a, observedGeneration: _g, ...record } = o;
    return this.asSubject(
      set,
      kind,
      forProvider,
      o.deletionPolicy ?? "Delete",
      o.name,
      statuses,
      () => record,
    );
  }

  private asSubject(
    set: RemoteObjectSet,
    kind: NonNullable<ReturnType<typeof kindOf>>,
    forProvider: RemoteObjectSetEntry["forProvider"],
    deletionPolicy: "Delete" | "Orphan",
    entry: string,
    statuses: Map<string, EntryStatus>,
    record: () => Omit<EntryStatus, "conditions">,
  ): Subject {
    const mr = asManaged(set, kind, forProvider, deletionPolicy, statuses.get(entry));
    const prefix = entryKey(set.metadata.name ?? "", "");
    const inSpec = new Set(set.spec.forProvider.objects.map((e) => e.name));
    return {
      kind,
      mr,
      key: entryKey(set.metadata.name ?? "", entry),
      involved: set,
      // An entry renamed in the spec takes its object over from the old name.
      adopts: (key) => key.startsWith(prefix) && !inSpec.has(key.slice(prefix.length)),
      report: (outcome: Outcome) => {
        const next = statusAfter(mr.status, set.metadata.generation, outcome, this.deps.now());
        statuses.set(entry, { ...record(), ...next } as EntryStatus);
        return Promise.resolve();
      },
    };
  }

  /** Entries of the set (in the spec or not yet gone) whose objects `o` owns as their anchor. */
  private ownedInSet(o: EntryStatus, present: EntryStatus[], set: RemoteObjectSet): string[] {
    if (o.remote.kind !== "ConfigMap" || o.ownerAnchor) return [];
    return ownedByAnchorIn(set, present, o.remote.name, o.remote.namespace).filter(
      (n) => n !== o.name,
    );
  }

  /** Ready when every object is; Synced unless one is not, naming which and why. */
  private conditions(
    set: RemoteObjectSet,
    statuses: Map<string, EntryStatus>,
  ): Omit<Condition, "lastTransitionTime">[] {
    const wanted = set.spec.forProvider.objects;
    const names = new Set(wanted.map((e) => e.name));
    const notReady = wanted
      .filter((e) => !isReady(statuses.get(e.name)))
      .map((e) => {
        const why = statuses
          .get(e.name)
          ?.conditions?.find((c) => c.type === "Ready" && c.status !== "True")?.message;
        return `${e.name}: ${why ?? "not observed yet"}`;
      });
    const leaving = [...statuses.keys()].filter((n) => !names.has(n));
    const unsynced = [...statuses.values()].flatMap((s) => {
      const c = failing(s);
      return c ? [{ name: s.name, c }] : [];
    });
    const [firstUnsynced] = unsynced;
    return [
      notReady.length === 0 && leaving.length === 0
        ? condition("Ready", "True", reasons.available)
        : condition(
            "Ready",
            "False",
            notReady.length > 0 ? reasons.creating : reasons.deleting,
            [
              notReady.length > 0
                ? `${notReady.length} of ${wanted.length} objects not ready: ${some(notReady)}`
                : "",
              leaving.length > 0 ? `being removed: ${some(leaving)}` : "",
            ]
              .filter(Boolean)
              .join("; "),
          ),
      firstUnsynced
        ? condition(
            "Synced",
            "False",
            firstUnsynced.c.reason,
            some(unsynced.map((u) => `${u.name}: ${u.c.message ?? u.c.reason}`)),
          )
        : condition("Synced", "True", reasons.reconcileSuccess),
    ];
  }

  /**
   * The set's status: its objects in the spec's order (then those being
   * removed), its conditions; written only when something a reader sees
   * changed. `observed`: every object in the spec was looked at in this
   * pass, whose write waits out the status interval unless a set-level
   * condition changed; then the milliseconds to look again are returned.
   */
  private async write(
    set: RemoteObjectSet,
    statuses: Map<string, EntryStatus>,
    conditions: Omit<Condition, "lastTransitionTime">[],
    observed = false,
    /** Progress only (a set going): at most one write per interval, whatever turns. */
    progress = false,
  ): Promise<number | undefined> {
    const order = new Map(set.spec.forProvider.objects.map((e, i) => [e.name, i] as const));
    const objects = [...statuses.values()].sort(
      (a, b) => (order.get(a.name) ?? order.size) - (order.get(b.name) ?? order.size),
    );
    const generation = set.metadata.generation;
    const allObserved =
      observed &&
      set.spec.forProvider.objects.every(
        (e) => statuses.get(e.name)?.observedGeneration === generation,
      );
    const status = {
      atProvider: { ready: objects.filter(isReady).length, objects },
      conditions: mergeConditions(set.status?.conditions, conditions, this.deps.now(), generation),
      ...(allObserved
        ? { observedGeneration: generation }
        : set.status?.observedGeneration !== undefined
          ? { observedGeneration: set.status.observedGeneration }
          : {}),
    };
    if (isEqual(asStored(status), asStored(set.status))) return undefined;
    const name = set.metadata.name ?? "";
    const now = (this.deps.clock ?? Date.now)();
    const last = this.written.get(name);
    // A set this process has not written: a new one counts its interval from
    // its creation; one with a status (this process restarted) is written.
    const created = Date.parse(set.metadata.creationTimestamp ?? "");
    const fresh = set.status?.atProvider?.objects === undefined && !Number.isNaN(created);
    // (Clamped: the API server's clock may run ahead of this one.)
    const since = Math.max(0, now - (last?.at ?? (fresh ? created : -Infinity)));
    const interval = this.deps.statusIntervalMs ?? 5000;
    const turning = {
      conditions: status.conditions,
      objects: objects.map((o) => o.name),
      kafka: kafkaOf(objects),
    };
    if (
      (observed || progress) &&
      since < interval &&
      (progress || !worthNow(last?.turning, turning))
    )
      return interval - since;
    await this.deps.central.apply(
      { ...objectSetKind, metadata: { name }, status },
      { fieldManager, subresource: "status", force: true },
    );
    this.written.set(name, { at: now, turning });
    return undefined;
  }

  /** The set is being deleted: every object goes (or stays, by its policy), owners last; then the set. */
  private async delete(
    set: RemoteObjectSet,
    statuses: Map<string, EntryStatus>,
    remote: RemoteClient,
    log: Logger,
  ): Promise<ReconcileResult> {
    if (!set.metadata.finalizers?.includes(finalizer)) return undefined;
    // Everything in the spec or still remembered, with the spec's policy where it has one.
    const all = new Map<string, Subject>();
    for (const o of statuses.values()) all.set(o.name, this.leavingSubject(set, o, statuses));
    for (const e of set.spec.forProvider.objects) all.set(e.name, this.subject(set, e, statuses));
    const present = new Set(all.keys());
    const results: ReconcileResult[] = [];
    const errors: unknown[] = [];
    const anchorOf = (s: Subject): string | undefined => s.mr.spec.forProvider.ownerAnchor?.name;
    const owners = (s: Subject, among: Iterable<string>): boolean => {
      const m = s.mr.spec.forProvider.manifest;
      if (m.kind !== "ConfigMap" || anchorOf(s)) return false;
      return [...among].some((n) => {
        const o = all.get(n);
        return (
          o !== undefined &&
          o !== s &&
          anchorOf(o) === m.metadata.name &&
          o.mr.spec.forProvider.manifest.metadata.namespace === m.metadata.namespace
        );
      });
    };
    // Owned objects first; an anchor only once nothing it owns is left.
    const order = [...all.entries()].sort(
      ([, a], [, b]) => Number(owners(a, all.keys())) - Number(owners(b, all.keys())),
    );
    for (const [n, s] of order) {
      if (owners(s, present)) continue;
      try {
        const r = await this.deps.objects.remove(s, remote, log, this.key(set));
        if (r === "gone") {
          present.delete(n);
          statuses.delete(n);
        } else results.push(r);
      } catch (err) {
        errors.push(err);
      }
    }
    // One write of what the pass kept, before the set can go: a claim
    // created again reads it once the set is gone.
    try {
      await this.deps.objects.writeKept(set.spec.providerConfigRef.name);
    } catch (err) {
      errors.push(err);
    }
    if (present.size > 0 || errors.length > 0) {
      // Every change of a set counts against the composites that require it
      // (a claim created again waits on its predecessor's sets going).
      await this.write(
        set,
        statuses,
        [
          condition(
            "Ready",
            "False",
            reasons.deleting,
            `${present.size} object(s) left to remove: ${some([...present])}`,
          ),
        ],
        false,
        true,
      );
      throwFirst(errors);
      return soonest(results) ?? { requeueAfterMs: 1000 };
    }
    await this.release(set);
    return undefined;
  }

  /** The cluster is gone for good: the set is released without touching it. */
  private async abandon(set: RemoteObjectSet, log: Logger): Promise<ReconcileResult> {
    const pc = set.spec.providerConfigRef.name;
    const statuses = new Map(
      (set.status?.atProvider?.objects ?? []).map((o) => [o.name, o] as const),
    );
    if (!set.metadata.deletionTimestamp) {
      await this.write(set, statuses, [abandonedCondition(pc)]);
      return undefined;
    }
    if (!set.metadata.finalizers?.includes(finalizer)) return undefined;
    const message = `released without deleting its ${statuses.size} remote object(s): cluster ${pc} is abandoned; delete them by hand should the cluster return`;
    log.warn({ objects: statuses.size }, "abandoned remote objects");
    await this.deps.events.record(set, "Warning", "AbandonedExternalResource", message);
    await this.release(set);
    return undefined;
  }

  private async release(set: RemoteObjectSet): Promise<void> {
    await release(this.deps, objectSetKind, set);
  }
}

/** Fails the reconcile with the first object's error (the others are in status). */
function throwFirst(errors: unknown[]): void {
  const [first] = errors;
  if (first === undefined) return;
  throw first instanceof Error ? first : new Error(describeError(first));
}

/** The earliest look-again of several results (none: undefined). */
function soonest(results: ReconcileResult[]): ReconcileResult {
  const times = results.flatMap((r) => (r?.requeueAfterMs !== undefined ? [r.requeueAfterMs] : []));
  return times.length > 0 ? { requeueAfterMs: Math.min(...times) } : undefined;
}
