/** Node storage: volumes, PVCs and the log directories that live on them (Strimzi's layout). */
import type { JbodVolume, StorageSpec } from "../../apis/index.ts";
import type { KafkaNode } from "./topology.ts";

export interface NodeVolume {
  /** Pod volume name: data, or data-<id> for JBOD. */
  volumeName: string;
  mountPath: string;
  /** PVC name when persistent: data-<pod> or data-<id>-<pod>. */
  claimName?: string;
  size?: string;
  storageClass?: string;
  deleteClaim: boolean;
  sizeLimit?: string;
  kraftMetadata: boolean;
}

export const defaultStorage: StorageSpec = { type: "persistent-claim", size: "10Gi" };

function quantity(q: number | string | undefined): string | undefined {
  return q === undefined ? undefined : String(q);
}

export function nodeVolumes(storage: StorageSpec | undefined, node: KafkaNode): NodeVolume[] {
  const s = storage ?? defaultStorage;
  if (s.type !== "jbod") {
    const size = quantity(s.size);
    const sizeLimit = quantity(s.sizeLimit);
    return [
      {
        volumeName: "data",
        mountPath: "/var/lib/kafka/data",
        ...(s.type === "persistent-claim" ? { claimName: `data-${node.podName}` } : {}),
        ...(size ? { size } : {}),
        ...(s.class ? { storageClass: s.class } : {}),
        ...(sizeLimit ? { sizeLimit } : {}),
        deleteClaim: s.deleteClaim ?? false,
        kraftMetadata: true,
      },
    ];
  }
  const volumes = [...(s.volumes ?? [])].sort((a, b) => a.id - b.id);
  const metadataVolume = volumes.find((v) => v.kraftMetadata === "shared") ?? volumes[0];
  return volumes.map((v: JbodVolume): NodeVolume => {
    const size = quantity(v.size);
    return {
      volumeName: `data-${v.id}`,
      mountPath: `/var/lib/kafka/data-${v.id}`,
      ...(v.type === "persistent-claim" ? { claimName: `data-${v.id}-${node.podName}` } : {}),
      ...(size ? { size } : {}),
      ...(v.class ? { storageClass: v.class } : {}),
      deleteClaim: v.deleteClaim ?? false,
      kraftMetadata: v === metadataVolume,
    };
  });
}

export function logDirs(
  volumes: NodeVolume[],
  node: KafkaNode,
): { logDirs: string[]; metadataLogDir: string } {
  const dir = (v: NodeVolume): string => `${v.mountPath}/kafka-log${node.id}`;
  const meta = volumes.find((v) => v.kraftMetadata) ?? volumes[0];
  return {
    logDirs: volumes.map(dir),
    metadataLogDir: meta ? dir(meta) : "/var/lib/kafka/data/kafka-log",
  };
}
