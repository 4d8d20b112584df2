/**
 * The storage of one simulated Kubernetes cluster, played: a default
 * StorageClass and the CSI external-provisioner's part for it. Network-attached
 * disks, as a cloud's block volumes within one zone: any node of the cluster
 * can mount a claim's volume, so a pod moved off a drained node comes back on
 * another node with its data (the node agent keeps a volume's data by the
 * claim's uid, below the cluster's directory, not the node's).
 *
 * The rest is Kubernetes' own: the DefaultStorageClass admission plugin gives
 * a claim without a class this one; kube-controller-manager's
 * persistent-volume binder marks the claim for this provisioner
 * (`volume.kubernetes.io/storage-provisioner`) and binds the volume created
 * here; kube-scheduler's VolumeBinding keeps a pod whose claim is not bound
 * from being placed. A claim deleted releases its volume, which is deleted
 * here with its data (reclaim policy Delete).
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import {
  KubeApiError,
  type DynamicClient,
  type KubeObject,
} from "../../controller/kube/dynamic.ts";
import { describeError } from "../../controller/kube/errors.ts";
import { Informer } from "../../controller/kube/informer.ts";

export const storageClassName = "standard";
const driver = "disk.devbed.stretchkafka.dev";
const fm = { fieldManager: "devbed-disk-provisioner" };

interface Claim extends KubeObject {
  spec: {
    accessModes?: string[];
    resources?: { requests?: { storage?: string } };
    storageClassName?: string;
    volumeName?: string;
  };
}

interface Volume extends KubeObject {
  spec: {
    claimRef?: { uid?: string };
    persistentVolumeReclaimPolicy?: string;
    csi?: { volumeHandle?: string };
  };
  status?: { phase?: string };
}

/** The directory that holds a claim's data in a cluster's `dir` (NodeAgentOptions.dir). */
export function volumeDir(dir: string, claimUid: string): string {
  return join(dir, "volumes", claimUid);
}

export class DiskProvisioner {
  private claims!: Informer<Claim>;
  private volumes!: Informer<Volume>;
  private readonly inFlight = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly o: {
      cluster: string;
      client: DynamicClient;
      namespace: string;
      dir: string;
      log: Logger;
    },
  ) {}

  async start(): Promise<void> {
    const { client, namespace, log } = this.o;
    await client.apply(
      {
        apiVersion: "storage.k8s.io/v1",
        kind: "StorageClass",
        metadata: {
          name: storageClassName,
          annotations: { "storageclass.kubernetes.io/is-default-class": "true" },
        },
        provisioner: driver,
        reclaimPolicy: "Delete",
        volumeBindingMode: "Immediate",
        allowVolumeExpansion: true,
      },
      fm,
    );
    this.claims = new Informer<Claim>(
      client,
      { apiVersion: "v1", kind: "PersistentVolumeClaim", namespace },
      log,
    );
    this.volumes = new Informer<Volume>(
      client,
      { apiVersion: "v1", kind: "PersistentVolume" },
      log,
    );
    const poke = (): void => {
      this.sync().catch((err: unknown) => {
        log.debug({ cluster: this.o.cluster, err: describeError(err) }, "disk provisioner");
      });
    };
    this.claims.on(poke);
    this.volumes.on(poke);
    await Promise.all([this.claims.start(), this.volumes.start()]);
    // What failed is tried again.
    this.timer = setInterval(poke, 2000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([this.claims.stop(), this.volumes.stop()]);
  }

  private async sync(): Promise<void> {
    const volumes = new Map(this.volumes.list().map((v) => [v.metadata.name ?? "", v]));
    for (const claim of this.claims.list()) {
      const name = `pvc-${claim.metadata.uid ?? ""}`;
      const wanted =
        claim.metadata.annotations?.["volume.kubernetes.io/storage-provisioner"] === driver;
      if (!wanted || claim.spec.volumeName || volumes.has(name)) continue;
      await this.once(name, () => this.provision(name, claim));
    }
    for (const [name, v] of volumes) {
      const ours = v.metadata.annotations?.["pv.kubernetes.io/provisioned-by"] === driver;
      if (!ours || v.status?.phase !== "Released") continue;
      if (v.spec.persistentVolumeReclaimPolicy !== "Delete") continue;
      await this.once(name, () => this.remove(v));
    }
  }

  private async once(key: string, fn: () => Promise<void>): Promise<void> {
    if (this.inFlight.has(key)) return;
    this.inFlight.add(key);
    try {
      await fn();
    } finally {
      this.inFlight.delete(key);
    }
  }

  /** A volume for the claim, bound to it by the persistent-volume binder. */
  private async provision(name: string, claim: Claim): Promise<void> {
    await this.o.client
      .create({
        apiVersion: "v1",
        kind: "PersistentVolume",
        metadata: { name, annotations: { "pv.kubernetes.io/provisioned-by": driver } },
        spec: {
          capacity: { storage: claim.spec.resources?.requests?.storage ?? "1Gi" },
          accessModes: claim.spec.accessModes ?? ["ReadWriteOnce"],
          persistentVolumeReclaimPolicy: "Delete",
          storageClassName: claim.spec.storageClassName ?? storageClassName,
          claimRef: {
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            namespace: claim.metadata.namespace,
            name: claim.metadata.name,
            uid: claim.metadata.uid,
          },
          csi: { driver, volumeHandle: claim.metadata.uid },
        },
      })
      .catch((err: unknown) => {
        if (!(err instanceof KubeApiError && err.code === 409)) throw err;
      });
    this.o.log.debug({ cluster: this.o.cluster, volume: name }, "volume provisioned");
  }

  /** A released volume is deleted with its data. */
  private async remove(v: Volume): Promise<void> {
    const uid = v.spec.csi?.volumeHandle;
    if (uid) rmSync(volumeDir(this.o.dir, uid), { recursive: true, force: true });
    await this.o.client
      .request(
        "DELETE",
        await this.o.client.path("v1", "PersistentVolume", undefined, v.metadata.name),
      )
      .catch((err: unknown) => {
        if (!(err instanceof KubeApiError && err.code === 404)) throw err;
      });
  }
}
