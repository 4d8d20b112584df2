/**
 * The per-cluster anchor ConfigMap owns every remote object of one Kafka
 * cluster in one Kubernetes cluster, so deleting it by hand would make that
 * cluster's garbage collector delete them all. The function labels it;
 * `register-cluster` installs a ValidatingAdmissionPolicy that refuses its
 * deletion to anyone but the provider (docs/operations.md).
 */
export const anchorLabel = "stretchkafka.dev/anchor";
/** On an anchor: an administrator means to delete it by hand, cascade and all. */
export const allowDeleteAnnotation = "stretchkafka.dev/allow-delete";
