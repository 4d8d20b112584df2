/** A remote object one cluster needs, before it becomes a managed resource. */
import type { CertificateRequest, KafkaAdmin, managedKinds } from "../../../apis/index.ts";
import { labels } from "../names.ts";

export type ManagedKind = (typeof managedKinds)[number]["kind"];

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export interface RemoteObject {
  /** Name of the cluster (in the claim) the object lives in. */
  cluster: string;
  kind: ManagedKind;
  manifest: Manifest;
  /** Owned by the cluster's anchor (all but the anchor itself). */
  ownedByAnchor: boolean;
  /** Kafka MRs only: how the provider asks Kafka for its own view. */
  kafkaAdmin?: KafkaAdmin;
  /** Secret MRs only: how the provider fills the Secret. */
  secret?:
    | { certificate: CertificateRequest }
    | { caCertificate: { authority: string; issuer: "ClusterCA" | "ClientsCA"; key?: string } };
}

/** Metadata of a remote object of one Kafka cluster: its name, the namespace, the cluster label. */
export function remoteMeta(
  o: { kafkaName: string; namespace: string },
  name: string,
  extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): Manifest["metadata"] {
  return {
    name,
    namespace: o.namespace,
    labels: { [labels.cluster]: o.kafkaName, ...extra.labels },
    ...(extra.annotations ? { annotations: extra.annotations } : {}),
  };
}
