/** A namespaced remote identity for the provider: ServiceAccount, Role, RoleBinding and a long-lived token. */
import { setTimeout as sleep } from "node:timers/promises";
import type { DynamicClient, KubeObject } from "../../controller/kube/dynamic.ts";

const fm = { fieldManager: "test-bed" };

export interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** Creates the identity (idempotent) and a token Secret `tokenSecret`; returns the token. */
export async function namespacedToken(
  remote: DynamicClient,
  opts: { namespace: string; serviceAccount: string; tokenSecret: string; rules: Rule[] },
): Promise<string> {
  const { namespace: ns, serviceAccount: sa } = opts;
  await remote.apply(
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: sa, namespace: ns } },
    fm,
  );
  await remote.apply(
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: sa, namespace: ns },
      rules: opts.rules,
    },
    fm,
  );
  await remote.apply(
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: sa, namespace: ns },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: sa },
      subjects: [{ kind: "ServiceAccount", name: sa, namespace: ns }],
    },
    fm,
  );
  await remote.apply(
    {
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/service-account-token",
      metadata: {
        name: opts.tokenSecret,
        namespace: ns,
        annotations: { "kubernetes.io/service-account.name": sa },
      },
    },
    fm,
  );
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
    if (token) return Buffer.from(token, "base64").toString("utf8");
    if (Date.now() > deadline)
      throw new Error(
        `the token controller did not fill Secret ${ns}/${opts.tokenSecret} within 30s`,
      );
    await sleep(100);
  }
}
