/** Kubernetes object metadata as it travels in JSON (timestamps are strings). */
export interface ObjectMetadata {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  deletionTimestamp?: string;
  creationTimestamp?: string;
  [field: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** What every Kubernetes object has. */
export interface KubeResource {
  apiVersion: string;
  kind: string;
  metadata: ObjectMetadata;
}

/** Any Kubernetes object, fields unknown: the one object type of the project. */
export interface KubeObject extends KubeResource {
  [k: string]: unknown;
}
