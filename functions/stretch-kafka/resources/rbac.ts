/**
 * The identity Kafka pods run as. The Strimzi image reads the node's
 * certificate Secret and the CA certificate through the Kubernetes API, so the
 * pods may `get` exactly those Secrets and nothing else.
 */
import { caCertSecret, clientsCaCertSecret, kafkaServiceAccount } from "../names.ts";
import { remoteMeta, type RemoteObject } from "./remote-object.ts";

export function podIdentity(o: {
  cluster: string;
  kafkaName: string;
  namespace: string;
  podNames: string[];
}): RemoteObject[] {
  const sa = kafkaServiceAccount(o.kafkaName);
  const meta = (name: string): RemoteObject["manifest"]["metadata"] => remoteMeta(o, name);
  return [
    {
      cluster: o.cluster,
      kind: "RemoteServiceAccount",
      ownedByAnchor: true,
      manifest: { apiVersion: "v1", kind: "ServiceAccount", metadata: meta(sa) },
    },
    {
      cluster: o.cluster,
      kind: "RemoteRole",
      ownedByAnchor: true,
      manifest: {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: meta(sa),
        rules: [
          {
            apiGroups: [""],
            resources: ["secrets"],
            verbs: ["get"],
            resourceNames: [
              caCertSecret(o.kafkaName),
              clientsCaCertSecret(o.kafkaName),
              ...o.podNames,
            ],
          },
        ],
      },
    },
    {
      cluster: o.cluster,
      kind: "RemoteRoleBinding",
      ownedByAnchor: true,
      manifest: {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: meta(`${sa}-role`),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: sa },
        subjects: [{ kind: "ServiceAccount", name: sa, namespace: o.namespace }],
      },
    },
  ];
}
