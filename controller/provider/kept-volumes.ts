/**
 * Data volumes a deleted claim left in place, recorded on the ProviderConfig
 * of their cluster (status.keptVolumes) so that the same claim created again
 * is composed with the same Kafka cluster id and node ids, and takes its data
 * up again. The function reads the record from the ProviderConfigs it already
 * requires; nothing else is needed to find it.
 *
 * The reconciler notes each volume as it leaves it in place or takes it up
 * again, and whoever runs the pass writes the cluster's record once at its
 * end: a set's pass over all of a cluster's volumes is one write. Each write
 * is a watch event Crossplane counts against every composite requiring that
 * ProviderConfig (a claim created again requires them all; ADR 0026), and
 * one write per volume was a third of such a claim's breaker tokens. A merge
 * patch, computed against the record as it is: it adds and removes exactly
 * the entries noted, whoever wrote the others (records of an earlier
 * provider had a field manager per volume).
 */
import isEqual from "lodash/isEqual.js";
import { groups, labels, volumeAnnotations, type ProviderConfig } from "../../apis/index.ts";
import type { KubeObject } from "../kube/dynamic.ts";
import { annotations as ours, keptFor } from "./desired.ts";

type Record_ = NonNullable<NonNullable<ProviderConfig["status"]>["keptVolumes"]>;
type Node = { pool: string; id: number };

interface Noted {
  /** Volumes left in place, by claim ("namespace/name"). */
  kept: Map<string, { clusterId: string; nodes: Map<string, Node> }>;
  /** Volumes taken up again, by claim. */
  takenUp: Map<string, Set<string>>;
  /** What must wait until the record no longer has a volume taken up. */
  then: (() => Promise<void>)[];
}

export interface KeptCentral {
  get(apiVersion: string, kind: string, name: string): Promise<KubeObject>;
  mergePatch(
    apiVersion: string,
    kind: string,
    name: string,
    namespace: string | undefined,
    patch: object,
    opts: { subresource: "status"; fieldManager: string },
  ): Promise<unknown>;
}

/** The claim ("namespace/name") a kept-for annotation or label names, if a claim. */
const claimOf = (keptForValue: string | undefined): string | undefined =>
  keptForValue?.startsWith("claim ") ? keptForValue.slice("claim ".length) : undefined;

/**
 * The merge patch of status.keptVolumes that applies what was noted to the
 * record as it is, or undefined when it changes nothing. A claim left with
 * no volume goes from the record.
 */
export function keptPatch(record: Record_, noted: Omit<Noted, "then">): object | undefined {
  const patch: Record<string, unknown> = {};
  for (const claim of new Set([...noted.kept.keys(), ...noted.takenUp.keys()])) {
    const had = record[claim];
    const before = (had?.nodes ?? {}) as Record<string, Node>;
    const kept = noted.kept.get(claim);
    const takenUp = noted.takenUp.get(claim) ?? new Set<string>();
    const after = Object.fromEntries(
      [...Object.entries(before), ...(kept?.nodes ?? [])].filter(([name]) => !takenUp.has(name)),
    );
    const clusterId = kept?.clusterId ?? had?.clusterId;
    if (isEqual(after, before) && clusterId === had?.clusterId) continue;
    if (Object.keys(after).length === 0) {
      if (had) patch[claim] = null;
      continue;
    }
    const nodes: Record<string, Node | null> = {};
    for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
      const a = after[name];
      if (!isEqual(a, before[name])) nodes[name] = a ?? null;
    }
    patch[claim] = { ...(clusterId ? { clusterId } : {}), nodes };
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

export class KeptVolumes {
  private readonly noted = new Map<string, Noted>();
  private readonly writing = new Map<string, Promise<void>>();

  constructor(
    private readonly central: KeptCentral,
    private readonly fieldManager: string,
  ) {}

  private of(pc: string): Noted {
    let n = this.noted.get(pc);
    if (!n) {
      n = { kept: new Map(), takenUp: new Map(), then: [] };
      this.noted.set(pc, n);
    }
    return n;
  }

  /** Notes a volume `mr` left in place in cluster `pc` (one that says its cluster id and node). */
  kept(pc: string, mr: KubeObject, remote: KubeObject): void {
    const a = remote.metadata.annotations ?? {};
    const clusterId = a[volumeAnnotations.clusterId];
    const id = Number(a[volumeAnnotations.nodeId]);
    const pool = remote.metadata.labels?.[labels.poolName];
    const claim = claimOf(keptFor(mr));
    if (!clusterId || !pool || !Number.isInteger(id) || !claim) return;
    const n = this.of(pc);
    const entry = n.kept.get(claim) ?? { clusterId, nodes: new Map<string, Node>() };
    entry.clusterId = clusterId;
    entry.nodes.set(remote.metadata.name ?? "", { pool, id });
    n.kept.set(claim, entry);
  }

  /** Notes a kept volume taken up again; `then` runs once the record no longer has it. */
  takenUp(pc: string, remote: KubeObject, then: () => Promise<void>): void {
    const n = this.of(pc);
    n.then.push(then);
    const claim = claimOf(remote.metadata.annotations?.[ours.keptFor]);
    if (!claim) return;
    const names = n.takenUp.get(claim) ?? new Set<string>();
    names.add(remote.metadata.name ?? "");
    n.takenUp.set(claim, names);
  }

  /**
   * Writes what was noted for cluster `pc` (one write, none when the record
   * has it already), then what waited for it. Writes of one cluster never
   * overlap. On failure what was noted is dropped: the pass that noted it
   * fails and notes it again when it runs again.
   */
  write(pc: string): Promise<void> {
    // Only the ordering is taken from the write before: its failure was
    // already returned to the pass that asked for it, and must not fail this one.
    const next = (this.writing.get(pc) ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => this.flush(pc));
    this.writing.set(pc, next);
    return next;
  }

  private async flush(pc: string): Promise<void> {
    const n = this.noted.get(pc);
    if (!n) return;
    this.noted.delete(pc);
    if (n.kept.size > 0 || n.takenUp.size > 0) {
      const current = (await this.central.get(
        groups.remote,
        "ProviderConfig",
        pc,
      )) as unknown as ProviderConfig;
      const patch = keptPatch(current.status?.keptVolumes ?? {}, n);
      if (patch)
        await this.central.mergePatch(
          groups.remote,
          "ProviderConfig",
          pc,
          undefined,
          { status: { keptVolumes: patch } },
          { subresource: "status", fieldManager: this.fieldManager },
        );
    }
    for (const then of n.then) await then();
  }
}
