/**
 * Turns a ProviderConfig and its credentials Secret into a KubeConfig for the
 * remote cluster. Pure: no I/O, so every refusal is unit-tested. TLS is always
 * verified unless the ProviderConfig explicitly opts out (then with a warning);
 * kubeconfigs that would run commands (exec plugins, auth providers) are refused.
 */
import { createHash } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import type { ProviderConfig } from "../../apis/index.ts";
import type { KubeObject } from "../kube/dynamic.ts";

export interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

export interface Credentials {
  kubeConfig: KubeConfig;
  server: string;
  /** Set when TLS verification is off by the ProviderConfig's choice. */
  warning?: string;
  /** Changes whenever the credentials do: a new client is made then. */
  fingerprint: string;
}

/** A problem with the credentials a person must fix; not retried until they change. */
export class CredentialsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CredentialsError";
  }
}

function decoded(secret: SecretObject, key: string, where: string): string {
  const v = secret.data?.[key];
  if (v === undefined) {
    const have = Object.keys(secret.data ?? {}).join(", ") || "none";
    throw new CredentialsError(`${where} has no key "${key}" (keys: ${have})`);
  }
  return Buffer.from(v, "base64").toString("utf8");
}

export function credentialsFrom(pc: ProviderConfig, secret: SecretObject): Credentials {
  const ref = pc.spec.credentials.secretRef;
  const where = `Secret ${ref.namespace}/${ref.name}`;
  const insecure = pc.spec.insecureSkipTLSVerify ?? false;
  const kc = new KubeConfig();
  const format = pc.spec.credentials.format ?? "Kubeconfig";
  if (format === "Token") {
    const server = decoded(secret, "server", where);
    const token = decoded(secret, "token", where).trim();
    const ca = insecure ? undefined : decoded(secret, "ca.crt", where);
    kc.loadFromClusterAndUser(
      {
        name: pc.metadata.name ?? "remote",
        server,
        skipTLSVerify: insecure,
        ...(ca ? { caData: Buffer.from(ca).toString("base64") } : {}),
      },
      { name: "stretch-kafka", token },
    );
  } else {
    const key = ref.key ?? "kubeconfig";
    try {
      kc.loadFromString(decoded(secret, key, where));
    } catch (err) {
      if (err instanceof CredentialsError) throw err;
      throw new CredentialsError(`${where} key "${key}" is not a valid kubeconfig: ${String(err)}`);
    }
  }
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster || !user)
    throw new CredentialsError(
      `${where}: the kubeconfig has no current context with a cluster and a user`,
    );
  if (user.exec || user.authProvider) {
    throw new CredentialsError(
      `${where}: the kubeconfig's user runs an exec plugin or auth provider; the provider does not run commands from Secrets: use a ServiceAccount token or a client certificate (stretch-kafka register-cluster makes one)`,
    );
  }
  if (cluster.skipTLSVerify && !insecure) {
    throw new CredentialsError(
      `${where}: the kubeconfig turns TLS verification off; give the cluster's CA, or opt out explicitly with spec.insecureSkipTLSVerify on ProviderConfig ${pc.metadata.name ?? ""}`,
    );
  }
  if (insecure && !cluster.skipTLSVerify) {
    kc.clusters = kc.clusters.map((c) =>
      c.name === cluster.name ? { ...c, skipTLSVerify: true } : c,
    );
  }
  const fingerprint = createHash("sha256")
    .update(
      JSON.stringify([
        pc.metadata.uid,
        pc.metadata.generation,
        secret.metadata.uid,
        secret.metadata.resourceVersion,
        secret.data,
      ]),
    )
    .digest("hex")
    .slice(0, 16);
  return {
    kubeConfig: kc,
    server: cluster.server,
    ...(insecure
      ? { warning: `TLS verification of ${cluster.server} is off (spec.insecureSkipTLSVerify)` }
      : {}),
    fingerprint,
  };
}
