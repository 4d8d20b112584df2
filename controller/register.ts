/**
 * `stretch-kafka register-cluster`: gives the provider a namespaced identity
 * in a remote cluster (ServiceAccount, Role with the least it needs,
 * RoleBinding, long-lived token, and a ClusterRole that only reads Nodes),
 * protects the anchors there (an admission
 * policy), and registers the cluster centrally (the
 * credentials Secret and a ProviderConfig). Everything is applied, so running
 * it twice changes nothing and keeps the token.
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeConfig } from "@kubernetes/client-node";
import { allowDeleteAnnotation, anchorLabel, groups } from "../apis/index.ts";
import type { DynamicClient, KubeObject } from "./kube/dynamic.ts";
import { describeError } from "./kube/errors.ts";
import { fieldManagers } from "./field-managers.ts";

const fm = { fieldManager: fieldManagers.register };

export interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export interface IdentityOptions {
  namespace: string;
  serviceAccount: string;
  tokenSecret: string;
  rules: Rule[];
  /** Cluster-scoped reads it needs besides (a ClusterRole and its binding), if any. */
  clusterRules?: Rule[];
}

/**
 * A namespaced identity: ServiceAccount, Role, RoleBinding and a long-lived
 * token Secret (which the token controller fills in).
 */
export function identityObjects(o: IdentityOptions): {
  account: KubeObject;
  role: KubeObject;
  binding: KubeObject;
  clusterRole?: KubeObject;
  clusterBinding?: KubeObject;
  tokenSecret: KubeObject;
} {
  const { namespace: ns, serviceAccount: sa } = o;
  // One per namespace the identity serves: two registrations of one cluster
  // (two target namespaces) each keep their own.
  const clusterWide = `${sa}-${ns}`;
  return {
    account: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: sa, namespace: ns } },
    role: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: sa, namespace: ns },
      rules: o.rules,
    },
    binding: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: sa, namespace: ns },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: sa },
      subjects: [{ kind: "ServiceAccount", name: sa, namespace: ns }],
    },
    ...(o.clusterRules
      ? {
          clusterRole: {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRole",
            metadata: { name: clusterWide },
            rules: o.clusterRules,
          },
          clusterBinding: {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRoleBinding",
            metadata: { name: clusterWide },
            roleRef: {
              apiGroup: "rbac.authorization.k8s.io",
              kind: "ClusterRole",
              name: clusterWide,
            },
            subjects: [{ kind: "ServiceAccount", name: sa, namespace: ns }],
          },
        }
      : {}),
    tokenSecret: {
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/service-account-token",
      metadata: {
        name: o.tokenSecret,
        namespace: ns,
        annotations: { "kubernetes.io/service-account.name": sa },
      },
    },
  };
}

/** Creates the identity (idempotent) and its token Secret; returns the token. */
export async function namespacedToken(
  remote: DynamicClient,
  opts: IdentityOptions,
  /** Told each object as it is applied. */
  report: (what: string) => void = () => {},
): Promise<string> {
  const { namespace: ns, serviceAccount: sa } = opts;
  const { account, role, binding, clusterRole, clusterBinding, tokenSecret } =
    identityObjects(opts);
  for (const obj of [account, role, binding]) await remote.apply(obj, fm);
  report(`ServiceAccount, Role and RoleBinding ${ns}/${sa}`);
  if (clusterRole && clusterBinding) {
    for (const obj of [clusterRole, clusterBinding]) await remote.apply(obj, fm);
    report(`ClusterRole and ClusterRoleBinding ${clusterRole.metadata.name ?? ""} (read Nodes)`);
  }
  await remote.apply(tokenSecret, fm);
  // The real token controller fills it in.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const s = await remote.get<KubeObject & { data?: Record<string, string> }>(
      "v1",
      "Secret",
      opts.tokenSecret,
      ns,
    );
    const token = s.data?.["token"];
    if (token) {
      report(`token Secret ${ns}/${opts.tokenSecret}`);
      return Buffer.from(token, "base64").toString("utf8");
    }
    if (Date.now() > deadline)
      throw new Error(
        `the token controller did not fill Secret ${ns}/${opts.tokenSecret} within 30s`,
      );
    await sleep(100);
  }
}

const all = ["get", "list", "watch", "create", "patch", "delete"];

/**
 * What the provider does in a remote namespace, and nothing else: manage the
 * kinds of the managed resources, read and delete pods (the rolling
 * restart) and label them (a node drain's release, ADR 0023). Reading the
 * server version needs no Role.
 */
export const providerRules: Rule[] = [
  {
    apiGroups: [""],
    resources: ["configmaps", "secrets", "services", "serviceaccounts", "persistentvolumeclaims"],
    verbs: all,
  },
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "patch", "delete"] },
  { apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles", "rolebindings"], verbs: all },
  { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies", "ingresses"], verbs: all },
  { apiGroups: ["core.strimzi.io"], resources: ["strimzipodsets"], verbs: all },
  { apiGroups: ["kafka.strimzi.io"], resources: ["kafkas"], verbs: all },
  { apiGroups: ["multicluster.x-k8s.io"], resources: ["serviceexports"], verbs: all },
  // Node drains wait for Kafka (docs/adr/0023).
  { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: all },
  // Metrics, where a claim asks for them (the Prometheus Operator's kinds).
  {
    apiGroups: ["monitoring.coreos.com"],
    resources: ["podmonitors", "prometheusrules"],
    verbs: all,
  },
];

export const providerServiceAccount = "stretch-kafka-provider";

/**
 * The one cluster-scoped grant: reading Nodes, to see which are cordoned (a
 * node drain waits for Kafka, ADR 0023).
 */
export const providerClusterRules: Rule[] = [
  { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] },
];

/** The provider's identity in a remote cluster's namespace: what register-cluster creates there. */
export function providerIdentity(namespace: string): IdentityOptions {
  const sa = providerServiceAccount;
  return {
    namespace,
    serviceAccount: sa,
    tokenSecret: `${sa}-token`,
    rules: providerRules,
    clusterRules: providerClusterRules,
  };
}

export const anchorPolicyName = "stretch-kafka-anchor-protection";

/**
 * A ValidatingAdmissionPolicy (GA since Kubernetes 1.30) and its binding:
 * deleting a ConfigMap labelled as an anchor is refused, except to the
 * provider's identity in that namespace, the namespace controller (deleting
 * the namespace deletes everything anyway), and an anchor an administrator
 * has annotated first. An accidental delete is then harmless: without it, the
 * garbage collector would delete every pod, podset, Service and Secret of
 * that Kafka cluster in that Kubernetes cluster at once.
 */
export function anchorProtection(): KubeObject[] {
  const provider = `'system:serviceaccount:' + request.namespace + ':${providerServiceAccount}'`;
  const annotated = `has(oldObject.metadata.annotations) && '${allowDeleteAnnotation}' in oldObject.metadata.annotations && oldObject.metadata.annotations['${allowDeleteAnnotation}'] == 'true'`;
  return [
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: anchorPolicyName },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: [""],
              apiVersions: ["v1"],
              operations: ["DELETE"],
              resources: ["configmaps"],
            },
          ],
          objectSelector: { matchLabels: { [anchorLabel]: "true" } },
        },
        validations: [
          {
            expression: [
              `request.userInfo.username == ${provider}`,
              `request.userInfo.username == 'system:serviceaccount:kube-system:namespace-controller'`,
              `request.userInfo.username == 'system:kube-controller-manager'`,
              `(${annotated})`,
            ].join(" || "),
            messageExpression: `'ConfigMap ' + request.namespace + '/' + request.name + ' is the anchor of a stretch-kafka Kafka cluster: deleting it would delete every pod, podset, Service and Secret of that Kafka cluster in this Kubernetes cluster. Delete the StretchKafka claim instead, or, to delete it by hand anyway, annotate it ${allowDeleteAnnotation}=true first.'`,
            reason: "Forbidden",
          },
        ],
      },
    },
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name: anchorPolicyName },
      spec: { policyName: anchorPolicyName, validationActions: ["Deny"] },
    },
  ];
}

export interface RegisterOptions {
  /** The ProviderConfig's name, which claims use for this cluster. */
  name: string;
  /** Admin access to the remote cluster (used once, never stored). */
  remote: DynamicClient;
  central: DynamicClient;
  /** The remote namespace Kafka runs in (the claims' spec.targetNamespace). */
  namespace: string;
  /** The provider's namespace in the central cluster, where the credentials go. */
  providerNamespace: string;
  /** The remote API server as the provider reaches it, and its CA (PEM). */
  server: string;
  serverCa: string;
}

/** Registers a remote cluster; `report` is told each thing done. */
export async function registerCluster(
  o: RegisterOptions,
  report: (what: string) => void,
): Promise<void> {
  await o.remote.apply(
    { apiVersion: "v1", kind: "Namespace", metadata: { name: o.namespace } },
    fm,
  );
  report(`remote: Namespace ${o.namespace}`);
  try {
    for (const obj of anchorProtection()) await o.remote.apply(obj, fm);
    report(
      `remote: ValidatingAdmissionPolicy ${anchorPolicyName} (only the provider deletes anchors)`,
    );
  } catch (err) {
    // E.g. Kubernetes before 1.30, or an identity that may not create it:
    // registering still works, without the protection, and says so.
    report(
      `remote: WARNING: anchor protection not installed (${describeError(err)}); an anchor ConfigMap deleted by hand would delete that cluster's share of Kafka (docs/operations.md)`,
    );
  }
  const token = await namespacedToken(o.remote, providerIdentity(o.namespace), (what) => {
    report(`remote: ${what}`);
  });
  await o.central.apply(
    { apiVersion: "v1", kind: "Namespace", metadata: { name: o.providerNamespace } },
    fm,
  );
  const secret = `${o.name}-credentials`;
  await o.central.apply(
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: secret, namespace: o.providerNamespace },
      stringData: { server: o.server, "ca.crt": o.serverCa, token },
    },
    fm,
  );
  report(`central: Secret ${o.providerNamespace}/${secret} (server, ca.crt, token)`);
  await o.central.apply(
    {
      apiVersion: groups.remote,
      kind: "ProviderConfig",
      metadata: { name: o.name },
      spec: {
        credentials: {
          source: "Secret",
          format: "Token",
          secretRef: { namespace: o.providerNamespace, name: secret },
        },
      },
    },
    fm,
  );
  report(`central: ProviderConfig ${o.name}`);
}

/** The CA (PEM) a kubeconfig's current cluster is verified with, if it names one. */
export function kubeconfigCa(kc: KubeConfig): string | undefined {
  const cluster = kc.getCurrentCluster();
  if (cluster?.caData) return Buffer.from(cluster.caData, "base64").toString("utf8");
  if (cluster?.caFile) return readFileSync(cluster.caFile, "utf8");
  return undefined;
}
