/** Turns a remote object into the managed resource the provider materializes. */
import {
  finalizers,
  groups,
  type ManagedForProvider,
  type ManagedResource,
} from "../../apis/index.ts";
import { anchorName, labels, objectName } from "./names.ts";
import type { ManagedKind, RemoteObject } from "./resources/remote-object.ts";

const shortKind: Record<ManagedKind, string> = {
  RemoteConfigMap: "cm",
  RemoteSecret: "secret",
  RemoteService: "svc",
  RemoteIngress: "ingress",
  RemoteServiceExport: "export",
  RemotePersistentVolumeClaim: "pvc",
  RemoteNetworkPolicy: "netpol",
  RemotePodDisruptionBudget: "pdb",
  RemotePodMonitor: "podmonitor",
  RemotePrometheusRule: "rules",
  RemoteServiceAccount: "sa",
  RemoteRole: "role",
  RemoteRoleBinding: "rolebinding",
  RemoteKafka: "kafka",
  RemoteStrimziPodSet: "podset",
};

/** The composition resource name: unique per composite, stable, readable in `crossplane beta trace`. */
export function resourceName(o: RemoteObject): string {
  return `${o.cluster}-${shortKind[o.kind]}-${o.manifest.metadata.name}`;
}

export function managedResource(
  o: RemoteObject,
  ctx: {
    composite: string;
    providerConfig: string;
    kafkaName: string;
    annotations?: Record<string, string>;
  },
): ManagedResource {
  const manifest = {
    ...o.manifest,
    metadata: {
      ...o.manifest.metadata,
      labels: {
        ...o.manifest.metadata.labels,
        [labels.composite]: ctx.composite,
        [labels.managedBy]: "stretch-kafka",
      },
    },
  };
  const forProvider: ManagedForProvider = {
    manifest,
    ...(o.ownedByAnchor ? { ownerAnchor: { name: anchorName(ctx.kafkaName) } } : {}),
    ...o.secret,
    ...(o.kafkaAdmin ? { kafkaAdmin: o.kafkaAdmin } : {}),
  };
  // A claim whose volumes are kept must keep them through deletion too.
  const keep = o.kind === "RemotePersistentVolumeClaim" && !o.ownedByAnchor;
  return {
    apiVersion: groups.remote,
    kind: o.kind,
    metadata: {
      name: objectName([ctx.composite, o.cluster, shortKind[o.kind], o.manifest.metadata.name]),
      labels: {
        [labels.composite]: ctx.composite,
        [labels.stretchCluster]: o.cluster,
        [labels.cluster]: ctx.kafkaName,
      },
      ...(ctx.annotations ? { annotations: ctx.annotations } : {}),
      // Created with the provider's finalizer: no second write to add it.
      finalizers: [finalizers.managed],
    },
    spec: {
      providerConfigRef: { name: ctx.providerConfig },
      deletionPolicy: keep ? "Orphan" : "Delete",
      forProvider,
    },
  };
}
