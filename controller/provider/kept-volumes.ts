/**
 * Data volumes a deleted claim left in place, recorded on the ProviderConfig
 * of their cluster (status.keptVolumes) so that the same claim created again
 * is composed with the same Kafka cluster id and node ids, and takes its data
 * up again. The function reads the record from the ProviderConfigs it already
 * requires; nothing else is needed to find it.
 *
 * Each volume's entry is applied with a field manager of its own, so entries
 * of one claim written at the same time merge, and taking a volume up again
 * removes just its entry.
 */
import { groups, labels, volumeAnnotations } from "../../apis/index.ts";
import { fieldManagers } from "../field-managers.ts";
import type { KubeObject } from "../kube/dynamic.ts";
import { annotations as ours, keptFor } from "./desired.ts";

type Apply = (
  obj: KubeObject,
  opts: { fieldManager: string; subresource?: "status"; force?: boolean },
) => Promise<unknown>;

interface Volume {
  claim: string;
  clusterId: string;
  pool: string;
  id: number;
}

/** The claim ("namespace/name") and node a kept volume belongs to, if it says. */
function volumeOf(mr: KubeObject, remote: KubeObject): Volume | undefined {
  const a = remote.metadata.annotations ?? {};
  const clusterId = a[volumeAnnotations.clusterId];
  const id = Number(a[volumeAnnotations.nodeId]);
  const pool = remote.metadata.labels?.[labels.poolName];
  const claim = keptFor(mr);
  if (!clusterId || !pool || !Number.isInteger(id) || !claim.startsWith("claim ")) return undefined;
  return { claim: claim.slice("claim ".length), clusterId, pool, id };
}

function fieldManager(remote: KubeObject): string {
  return fieldManagers.kept(remote.metadata.namespace ?? "", remote.metadata.name ?? "");
}

/** Records a volume left in place in cluster `providerConfig`. */
export async function recordKept(
  apply: Apply,
  providerConfig: string,
  mr: KubeObject,
  remote: KubeObject,
): Promise<void> {
  const v = volumeOf(mr, remote);
  if (!v) return;
  await apply(
    {
      apiVersion: groups.remote,
      kind: "ProviderConfig",
      metadata: { name: providerConfig },
      status: {
        keptVolumes: {
          [v.claim]: {
            clusterId: v.clusterId,
            nodes: { [remote.metadata.name ?? ""]: { pool: v.pool, id: v.id } },
          },
        },
      },
    },
    { fieldManager: fieldManager(remote), subresource: "status", force: true },
  );
}

/** Forgets a kept volume once a managed resource of the claim it was kept for has taken it up. */
export async function forgetKept(
  apply: Apply,
  providerConfig: string,
  remote: KubeObject,
): Promise<void> {
  if (!remote.metadata.annotations?.[ours.keptFor]) return;
  await apply(
    {
      apiVersion: groups.remote,
      kind: "ProviderConfig",
      metadata: { name: providerConfig },
      status: {},
    },
    { fieldManager: fieldManager(remote), subresource: "status", force: true },
  );
}
