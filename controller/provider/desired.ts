/**
 * The remote object a managed resource asks for: its manifest, plus what the
 * provider adds: the owner reference to the cluster's anchor (with the anchor's
 * remote uid, which only the provider can know), an annotation naming the
 * managed resource (so a remote change finds its way back), and a hash of
 * what was applied.
 */
import { createHash } from "node:crypto";
import { labels } from "../../apis/index.ts";
import type { KubeObject, OwnerReference } from "../kube/dynamic.ts";

export const annotations = {
  managedResource: "remote.stretchkafka.dev/managed-resource",
  appliedHash: "remote.stretchkafka.dev/applied-hash",
  /** On an object a deleted managed resource left in place: who may take it up again. */
  keptFor: "remote.stretchkafka.dev/kept-for",
  /** When the provider last touched an object its remote operator let stall. */
  nudgedAt: "remote.stretchkafka.dev/nudged-at",
} as const;

/**
 * Whom an orphaned remote object is kept for: the claim its managed resource
 * was composed for (the same claim, asked again, gets its data back), else the
 * composite. Crossplane removes its composite and claim labels from a composed
 * resource before deleting one its composite no longer composes (a hand-over
 * to sets, ADR 0026), so the composite is also read from the function's own
 * label.
 */
export function keptFor(mr: KubeObject): string {
  const l = mr.metadata.labels ?? {};
  const ns = l[labels.claimNamespace];
  const name = l[labels.claimName];
  if (ns && name) return `claim ${ns}/${name}`;
  return `composite ${l[labels.crossplaneComposite] ?? l[labels.composite] ?? mr.metadata.name ?? ""}`;
}

/** Whom a managed resource may take up a kept object from: its claim, or its own composite. */
export function mayTakeUp(mr: KubeObject, kept: string): boolean {
  const composite = mr.metadata.labels?.[labels.composite];
  return kept === keptFor(mr) || (composite !== undefined && kept === `composite ${composite}`);
}

/**
 * Remote objects carry this label; the remote informers select on it, so the
 * provider stamps it on everything it applies (a hand-written managed
 * resource may lack it, and its object would be invisible to the cache).
 */
export const managedBy = { key: labels.managedBy, value: "stretch-kafka" } as const;
export const managedByLabel = `${managedBy.key}=${managedBy.value}`;

/** Metadata with the label the remote informers select on. */
export function stamped<T extends KubeObject["metadata"]>(meta: T): T {
  return { ...meta, labels: { ...meta.labels, [managedBy.key]: managedBy.value } };
}

export interface DesiredInput {
  manifest: KubeObject;
  mrKey: string;
  /** Kind-specific stamping of nested objects (a podset's pods). */
  stampNested?: (manifest: KubeObject) => KubeObject;
  anchor?: { name: string; uid: string };
  /** Secret data (base64 values), for RemoteSecrets. */
  data?: Record<string, string>;
}

export function hashOf(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 16);
}

export function desiredObject(input: DesiredInput): KubeObject {
  const m = input.stampNested ? input.stampNested(input.manifest) : input.manifest;
  const owners: OwnerReference[] = input.anchor
    ? [
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          name: input.anchor.name,
          uid: input.anchor.uid,
          controller: false,
          blockOwnerDeletion: false,
        },
      ]
    : [];
  const body: KubeObject = {
    ...m,
    metadata: {
      ...stamped(m.metadata),
      annotations: { ...m.metadata.annotations, [annotations.managedResource]: input.mrKey },
      ...(owners.length > 0 ? { ownerReferences: owners } : {}),
    },
    ...(input.data ? { data: input.data } : {}),
  };
  const hash = hashOf(body);
  return {
    ...body,
    metadata: {
      ...body.metadata,
      annotations: { ...body.metadata.annotations, [annotations.appliedHash]: hash },
    },
  };
}

/**
 * Whether every field of `want` has the same value in `have` (objects by key,
 * lists element by element at equal length). Fields the server adds (defaults,
 * status, metadata) are ignored; a hand edit or removal of ours is not.
 */
export function covers(have: unknown, want: unknown): boolean {
  if (Array.isArray(want)) {
    return (
      Array.isArray(have) && have.length === want.length && want.every((w, i) => covers(have[i], w))
    );
  }
  if (want !== null && typeof want === "object") {
    if (have === null || typeof have !== "object" || Array.isArray(have)) return false;
    const h = have as Record<string, unknown>;
    return Object.entries(want as Record<string, unknown>).every(([k, v]) => covers(h[k], v));
  }
  return have === want;
}
