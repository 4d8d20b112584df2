/**
 * Which config a managed resource's remote cluster comes from, as one key
 * (ADR 0020): the legacy cluster-scoped `ProviderConfig` of
 * `remote.stretchkafka.dev` by its bare name (so nothing of a legacy install
 * changes), and in `remote.m.stretchkafka.dev` a `ClusterProviderConfig` as
 * `ClusterProviderConfig/<name>` and a namespaced `ProviderConfig` as
 * `ProviderConfig/<namespace>/<name>`. A Kubernetes name has no `/`, so a
 * key is never ambiguous. Pure: no I/O.
 */
import { groups } from "../../apis/index.ts";

export type ConfigRef =
  | { kind: "LegacyProviderConfig"; name: string }
  | { kind: "ClusterProviderConfig"; name: string }
  | { kind: "ProviderConfig"; namespace: string; name: string };

export function configKey(ref: ConfigRef): string {
  switch (ref.kind) {
    case "LegacyProviderConfig":
      return ref.name;
    case "ClusterProviderConfig":
      return `ClusterProviderConfig/${ref.name}`;
    case "ProviderConfig":
      return `ProviderConfig/${ref.namespace}/${ref.name}`;
  }
}

export function parseConfigKey(key: string): ConfigRef {
  const parts = key.split("/");
  const [first, second, third] = parts;
  if (parts.length === 1 && first) return { kind: "LegacyProviderConfig", name: first };
  if (parts.length === 2 && first === "ClusterProviderConfig" && second)
    return { kind: "ClusterProviderConfig", name: second };
  if (parts.length === 3 && first === "ProviderConfig" && second && third)
    return { kind: "ProviderConfig", namespace: second, name: third };
  throw new Error(
    `"${key}" is not a config key: a ProviderConfig's name, ClusterProviderConfig/<name> or ProviderConfig/<namespace>/<name>`,
  );
}

/** How a person reads the config in a message. */
export function describeConfig(ref: ConfigRef): string {
  switch (ref.kind) {
    case "LegacyProviderConfig":
      return `ProviderConfig "${ref.name}"`;
    case "ClusterProviderConfig":
      return `ClusterProviderConfig "${ref.name}"`;
    case "ProviderConfig":
      return `ProviderConfig ${ref.namespace}/${ref.name}`;
  }
}

/** The API kind to watch for a kind of config. */
export function configKind(kind: ConfigRef["kind"]): { apiVersion: string; kind: string } {
  return kind === "LegacyProviderConfig"
    ? { apiVersion: groups.remote, kind: "ProviderConfig" }
    : { apiVersion: groups.namespacedRemote, kind };
}

interface Referrer {
  apiVersion?: string;
  metadata: { namespace?: string };
  spec: { providerConfigRef: { name: string; kind?: string } };
}

/**
 * The config a managed resource names: a legacy one's reference is a name;
 * a `.m.` one's names its kind (a ClusterProviderConfig, or a ProviderConfig
 * of the managed resource's own namespace: never another's).
 */
export function configRefOf(mr: Referrer): ConfigRef {
  const { name, kind } = mr.spec.providerConfigRef;
  const group = mr.apiVersion?.split("/")[0];
  if (group !== groups.namespacedRemote.split("/")[0])
    return { kind: "LegacyProviderConfig", name };
  if (kind === "ProviderConfig")
    return { kind: "ProviderConfig", namespace: mr.metadata.namespace ?? "", name };
  return { kind: "ClusterProviderConfig", name };
}

/**
 * Why a config may not use the credentials Secret it names, or undefined: a
 * namespaced ProviderConfig belongs to its namespace's team, and reads a
 * Secret of that namespace only (the provider can read Secrets the team
 * cannot; naming another namespace's would hand them over).
 */
export function secretRefusal(
  ref: ConfigRef,
  secretRef: { namespace: string; name: string },
): string | undefined {
  if (ref.kind !== "ProviderConfig" || secretRef.namespace === ref.namespace) return undefined;
  return `${describeConfig(ref)} names Secret ${secretRef.namespace}/${secretRef.name}; a ProviderConfig in namespace ${ref.namespace} may only name a Secret of its own namespace: move the Secret to ${ref.namespace}, or use a ClusterProviderConfig (cluster-scoped, the platform team's)`;
}
