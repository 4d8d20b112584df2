/**
 * `stretch-kafka backup` and `stretch-kafka restore`: what a central cluster
 * holds that Git does not, and that a running Kafka cannot do without.
 *
 * Git holds the claims, the ProviderConfigs and the credentials' Secrets
 * (docs/operations.md). The central cluster alone holds, per claim, the
 * composite's name (every managed resource's name derives from it, and the
 * remote objects say which managed resource manages them), its status (the
 * Kafka cluster id, the node ids, the quorum's voters) and the two CAs that
 * signed every certificate the brokers and clients hold. A new central
 * cluster restored from a backup composes the same managed resources, which
 * adopt the remote objects as they are: nothing restarts. One restored from
 * Git alone composes other names, and the provider leaves every remote
 * object alone, saying that this backup is missing.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { annotations, groups } from "../apis/index.ts";
import { KubeApiError, type DynamicClient, type KubeObject } from "./kube/dynamic.ts";
import { fieldManagers } from "./field-managers.ts";
import { caSecretName } from "./provider/ca-store.ts";

/** The restore's own field manager: namespaces and the CA Secrets. */
export const restoreManager = "stretch-kafka-restore";

/** The marker of a backup file. */
export const backupAnnotation = "stretchkafka.dev/backup";

interface Claim extends KubeObject {
  spec: { resourceRef?: { name: string }; [k: string]: unknown };
}

interface Composite extends KubeObject {
  spec: { claimRef?: { name: string; namespace: string }; [k: string]: unknown };
  status?: { clusterId?: string; conditions?: unknown[]; [k: string]: unknown };
}

interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

export interface Backup extends KubeObject {
  items: KubeObject[];
}

/** The metadata a restore may write: names, labels, annotations; never uids, versions or owners. */
function portable(meta: KubeObject["metadata"]): KubeObject["metadata"] {
  return {
    name: meta.name ?? "",
    ...(meta.namespace ? { namespace: meta.namespace } : {}),
    ...(meta.labels ? { labels: meta.labels } : {}),
    ...(meta.annotations
      ? {
          annotations: Object.fromEntries(
            Object.entries(meta.annotations).filter(
              ([k]) => k !== "kubectl.kubernetes.io/last-applied-configuration",
            ),
          ),
        }
      : {}),
  };
}

/** The CA Secrets of a composite (its name is the CAs' authority). */
export function caSecretNames(composite: string): string[] {
  return [caSecretName(composite, "ClusterCA"), caSecretName(composite, "ClientsCA")];
}

/**
 * Every claim (or the one named) with its composite and the CAs its Kafka
 * runs on. The output holds CA private keys: keep it as a Secret is kept.
 */
export async function takeBackup(
  central: DynamicClient,
  o: { providerNamespace: string; namespace?: string; name?: string; now?: Date },
): Promise<Backup> {
  const claims = (
    await central.list<Claim>(groups.composite, "StretchKafka", {
      ...(o.namespace ? { namespace: o.namespace } : {}),
    })
  ).items.filter((c) => !o.name || c.metadata.name === o.name);
  if (o.name && claims.length === 0)
    throw new Error(`no StretchKafka ${o.namespace ?? "default"}/${o.name} in this cluster`);
  const items: KubeObject[] = [];
  const skipped: string[] = [];
  for (const claim of claims) {
    const ref = claim.spec.resourceRef?.name;
    const xr = ref
      ? await central.find<Composite>(groups.composite, "XStretchKafka", ref)
      : undefined;
    const who = `${claim.metadata.namespace ?? ""}/${claim.metadata.name ?? ""}`;
    if (!ref || !xr?.status?.clusterId) {
      // Nothing runs for it yet: Git is backup enough.
      skipped.push(
        `${who} (${ref ? `composite ${ref} has no Kafka cluster id yet` : "not bound yet"})`,
      );
      continue;
    }
    const secrets: Secret[] = [];
    for (const name of caSecretNames(ref)) {
      const s = await central.find<Secret>("v1", "Secret", name, o.providerNamespace);
      if (!s?.data?.["ca.key"])
        throw new Error(
          `Secret ${o.providerNamespace}/${name} (a CA of ${who}) is missing or has no key: is --provider-namespace right?`,
        );
      secrets.push(s);
    }
    const { conditions: _c, ...status } = xr.status;
    // What the claim's controller and the composer write anew, the latter with the names they have then.
    const { writeConnectionSecretToRef: _w, resourceRefs: _r, ...xrSpec } = xr.spec;
    items.push(
      {
        apiVersion: claim.apiVersion,
        kind: claim.kind,
        metadata: portable(claim.metadata),
        spec: claim.spec,
      },
      {
        apiVersion: xr.apiVersion,
        kind: xr.kind,
        metadata: portable(xr.metadata),
        spec: xrSpec,
        status,
      },
      ...secrets.map((s) => ({
        apiVersion: "v1",
        kind: "Secret",
        metadata: portable(s.metadata),
        ...(s.type ? { type: s.type } : {}),
        data: s.data,
      })),
    );
  }
  return {
    apiVersion: "v1",
    kind: "List",
    metadata: {
      annotations: {
        [backupAnnotation]: JSON.stringify({
          taken: (o.now ?? new Date()).toISOString(),
          claims: items.filter((i) => i.kind === "StretchKafka").length,
          ...(skipped.length > 0 ? { notIncluded: skipped } : {}),
        }),
      },
    },
    items,
  };
}

/** Checks a backup file before anything is written: every claim with its composite and both CAs. */
export function checkBackup(items: KubeObject[]): { claim: Claim; xr: Composite; cas: Secret[] }[] {
  const claims = items.filter((i): i is Claim => i.kind === "StretchKafka");
  if (claims.length === 0) throw new Error("the backup holds no StretchKafka: nothing to restore");
  return claims.map((claim) => {
    const who = `${claim.metadata.namespace ?? ""}/${claim.metadata.name ?? ""}`;
    const ref = claim.spec.resourceRef?.name;
    const xr = items.find(
      (i): i is Composite => i.kind === "XStretchKafka" && i.metadata.name === ref,
    );
    if (!ref || !xr?.status?.clusterId)
      throw new Error(`the backup holds claim ${who} without its composite and its status`);
    const cas = caSecretNames(ref).map((name) => {
      const s = items.find((i): i is Secret => i.kind === "Secret" && i.metadata.name === name);
      if (!s?.data?.["ca.key"] || !s.data["ca.crt"])
        throw new Error(`the backup holds claim ${who} without its CA Secret ${name}`);
      return s;
    });
    return { claim, xr, cas };
  });
}

/**
 * The field managers of the controller that copies a claim to its composite,
 * and of the one that writes the composite's status. The restore writes each
 * part as its controller would, so that the controller's next write replaces
 * it whole and nothing of the backup lingers once the composition drops it.
 */
export const composers = {
  standalone: { claim: fieldManagers.engineClaim, composite: fieldManagers.engineComposite },
  crossplane: {
    claim: "apiextensions.crossplane.io/claim",
    composite: "apiextensions.crossplane.io/composite",
  },
} as const;

export type Composer = keyof typeof composers;

/**
 * Restores a backup into a central cluster that does not have its claims:
 * the CAs first, then each composite (paused, so nothing composes before its
 * status is back), its status, the claim bound to it, and only then the
 * composite unpaused. Refuses, before writing anything, a claim bound to
 * another composite, a composite with another Kafka cluster id, or a CA
 * Secret that differs: that central cluster has made a Kafka identity of its
 * own, which a restore must not mix with the running one. A claim restored
 * already is left as it is, so running the restore twice changes nothing.
 */
export async function restoreBackup(
  central: DynamicClient,
  items: KubeObject[],
  o: {
    providerNamespace: string;
    composer: Composer;
    report: (msg: string) => void;
    /** How long to wait for the composer to write the restored status as its own. */
    handOverSeconds?: number;
  },
): Promise<void> {
  const entries = checkBackup(items);
  const managers = composers[o.composer];
  const refusals: string[] = [];
  const done = new Set<Claim>();
  for (const { claim, xr, cas } of entries) {
    const who = `${claim.metadata.namespace ?? ""}/${claim.metadata.name ?? ""}`;
    const there = await central.find<Claim>(
      claim.apiVersion,
      claim.kind,
      claim.metadata.name ?? "",
      claim.metadata.namespace,
    );
    const xrThere = await central.find<Composite>(xr.apiVersion, xr.kind, xr.metadata.name ?? "");
    if (there && there.spec.resourceRef?.name !== xr.metadata.name)
      refusals.push(
        `claim ${who} exists already${there.spec.resourceRef ? `, bound to composite ${there.spec.resourceRef.name}` : ""}: delete it (its managed resources leave alone every remote object they do not manage) and restore again`,
      );
    else if (xrThere && xrThere.status?.clusterId !== xr.status?.clusterId)
      refusals.push(
        `composite ${xr.metadata.name ?? ""} exists with ${xrThere.status?.clusterId ? `another Kafka cluster id (${xrThere.status.clusterId})` : "no Kafka cluster id"}: delete it and restore again`,
      );
    else if (there && xrThere) done.add(claim);
    for (const ca of cas) {
      const s = await central.find<Secret>(
        "v1",
        "Secret",
        ca.metadata.name ?? "",
        o.providerNamespace,
      );
      if (
        s &&
        (s.data?.["ca.key"] !== ca.data?.["ca.key"] || s.data?.["ca.crt"] !== ca.data?.["ca.crt"])
      )
        refusals.push(
          `Secret ${o.providerNamespace}/${ca.metadata.name ?? ""} holds another CA than the backup's (made for a claim applied before the restore?): delete that claim, then this Secret, and restore again`,
        );
    }
  }
  if (refusals.length > 0) throw new Error(`nothing restored:\n  ${refusals.join("\n  ")}`);

  const fm = { fieldManager: restoreManager };
  for (const { claim, xr, cas } of entries) {
    const name = xr.metadata.name ?? "";
    const who = `${claim.metadata.namespace ?? ""}/${claim.metadata.name ?? ""}`;
    if (done.has(claim)) {
      o.report(`${who} is restored already (composite ${name}); left as it is`);
      continue;
    }
    for (const ns of [o.providerNamespace, claim.metadata.namespace ?? "default"])
      await central.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }, fm);
    for (const ca of cas)
      await central.apply(
        { ...ca, metadata: { ...ca.metadata, namespace: o.providerNamespace } },
        fm,
      );
    // Created paused (one write: a composite seen unpaused without its status
    // would be composed as a new Kafka cluster) until its status is back: the
    // function reads the cluster id and node ids from it. The pause is the
    // claim manager's, so the claim's controller, copying the claim without
    // it, unpauses the composite too, once the claim exists below.
    const created = await central.apply(
      {
        apiVersion: xr.apiVersion,
        kind: xr.kind,
        metadata: {
          ...xr.metadata,
          annotations: { ...xr.metadata.annotations, [annotations.paused]: "true" },
        },
        spec: xr.spec,
      },
      { fieldManager: managers.claim },
    );
    // Under the restore's own manager: a pass of the composer that read the
    // composite before this write cannot take it away. Given up below, once
    // the composer owns the status itself.
    await central.apply(
      { apiVersion: xr.apiVersion, kind: xr.kind, metadata: { name }, status: xr.status },
      { ...fm, subresource: "status" },
    );
    // The composite owns its CAs, so that deleting it lets the garbage collector take them.
    for (const ca of cas) {
      await central.mergePatch("v1", "Secret", ca.metadata.name ?? "", o.providerNamespace, {
        metadata: {
          ownerReferences: [
            {
              apiVersion: xr.apiVersion,
              kind: xr.kind,
              name,
              uid: created.metadata.uid ?? "",
              controller: false,
              blockOwnerDeletion: false,
            },
          ],
        },
      });
    }
    // As `kubectl create` would: the claim is the user's to apply from Git again.
    try {
      await central.create(claim);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.code === 409)) throw err;
    }
    await central.mergePatch(xr.apiVersion, xr.kind, name, undefined, {
      metadata: { annotations: { [annotations.paused]: null } },
    });
    o.report(
      `restored ${who}: composite ${name}, Kafka cluster id ${String(xr.status?.clusterId)}`,
    );
  }
  // Once the composer has written the restored status as its own (the Kafka
  // cluster id under its manager), the restore gives its copy up, so that a
  // field the composition later drops does not linger under the restore's name.
  const deadline = Date.now() + (o.handOverSeconds ?? 120) * 1000;
  for (const { claim, xr } of entries) {
    if (done.has(claim)) continue;
    const name = xr.metadata.name ?? "";
    for (;;) {
      const now = await central.get<Composite>(xr.apiVersion, xr.kind, name);
      if (
        now.status?.clusterId === xr.status?.clusterId &&
        ownsClusterId(now, managers.composite)
      ) {
        await central.apply(
          { apiVersion: xr.apiVersion, kind: xr.kind, metadata: { name } },
          { ...fm, subresource: "status" },
        );
        break;
      }
      if (Date.now() > deadline) {
        o.report(
          `composite ${name}: its composer has not written its status within ${String(o.handOverSeconds ?? 120)} s (is the controller, or Crossplane, running?); the restored status stays under ${restoreManager}, which is safe, but a field the composition drops later stays until removed by hand`,
        );
        break;
      }
      await sleep(1000);
    }
  }
}

interface ManagedFieldsEntry {
  manager?: string;
  subresource?: string;
  fieldsV1?: { "f:status"?: Record<string, unknown> };
}

/** Whether `manager` owns the composite's status.clusterId (server-side apply's managedFields). */
function ownsClusterId(xr: KubeObject, manager: string): boolean {
  const entries = (xr.metadata as { managedFields?: ManagedFieldsEntry[] }).managedFields ?? [];
  return entries.some(
    (e) =>
      e.manager === manager &&
      e.subresource === "status" &&
      e.fieldsV1?.["f:status"]?.["f:clusterId"] !== undefined,
  );
}
