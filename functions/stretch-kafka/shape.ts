/**
 * The two API shapes the function composes for (ADR 0020): the legacy
 * cluster-scoped XStretchKafka of a StretchKafka claim, and Crossplane v2's
 * namespaced StretchKafka. Everything the function decides is the same for
 * both; they differ in where a cluster's config is, in the managed
 * resources' group and reference, and in how the connection Secret is made.
 */
import type { ResourceSelector } from "@crossplane-org/function-sdk-typescript";
import { groups, type RemoteObjectSet, type XStretchKafka } from "../../apis/index.ts";
import type { ProviderConfigKind } from "../../apis/namespaced.ts";
import { labels } from "./names.ts";

/** A cluster's config as the XR names it: the legacy XR names a ProviderConfig by name only. */
export interface ConfigRef {
  kind?: ProviderConfigKind;
  name: string;
}

export interface ApiShape {
  /** The namespaced v2 XR. */
  namespaced: boolean;
  /** The Kafka cluster's name: the claim's (legacy) or the XR's own (v2). */
  kafkaName: string;
  /** Who the volumes a ProviderConfig keeps are kept for: `namespace/name` of the claim or the v2 XR. */
  keptFor: string;
  /** The requirement that fetches a cluster's config, and a name for it. */
  config(ref: ConfigRef): { key: string; selector: ResourceSelector; what: string };
  /** A set as this shape composes it. */
  set(set: RemoteObjectSet, ref: ConfigRef): Record<string, unknown>;
}

export const isNamespacedXr = (raw: { apiVersion?: unknown }): boolean =>
  typeof raw.apiVersion === "string" && raw.apiVersion === groups.namespacedComposite;

export function apiShape(xr: XStretchKafka, namespaced: boolean): ApiShape {
  const name = xr.metadata.name ?? "";
  if (!namespaced) {
    const kafkaName = xr.metadata.labels?.[labels.claimName] ?? name;
    return {
      namespaced,
      kafkaName,
      keptFor: `${xr.metadata.labels?.[labels.claimNamespace] ?? ""}/${kafkaName}`,
      config: (ref) => ({
        key: `providerconfig-${ref.name}`,
        selector: { apiVersion: groups.remote, kind: "ProviderConfig", matchName: ref.name },
        what: `ProviderConfig "${ref.name}"`,
      }),
      set: (set) => set as unknown as Record<string, unknown>,
    };
  }
  const namespace = xr.metadata.namespace ?? "";
  const kindOf = (ref: ConfigRef): ProviderConfigKind => ref.kind ?? "ClusterProviderConfig";
  return {
    namespaced,
    kafkaName: name,
    keptFor: `${namespace}/${name}`,
    config: (ref) => {
      const kind = kindOf(ref);
      return {
        key: `${kind.toLowerCase()}-${ref.name}`,
        selector: {
          apiVersion: groups.namespacedRemote,
          kind,
          matchName: ref.name,
          ...(kind === "ProviderConfig" ? { namespace } : {}),
        },
        what:
          kind === "ProviderConfig"
            ? `ProviderConfig "${ref.name}" in namespace ${namespace}`
            : `ClusterProviderConfig "${ref.name}"`,
      };
    },
    set: (set, ref) => ({
      ...set,
      apiVersion: groups.namespacedRemote,
      spec: { ...set.spec, providerConfigRef: { kind: kindOf(ref), name: ref.name } },
    }),
  };
}

/**
 * The connection Secret a v2 XR composes in its own namespace (v2 XRs have no
 * connection details): the keys and type of the legacy claim's Secret, so
 * that a claim moved to v2 keeps its Secret's values.
 */
export function connectionSecret(
  xr: XStretchKafka,
  details: Record<string, Buffer>,
): Record<string, unknown> {
  const ref = (xr.spec as { writeConnectionSecretToRef?: { name?: string } })
    .writeConnectionSecretToRef;
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "connection.crossplane.io/v1alpha1",
    metadata: {
      name: ref?.name ?? `${xr.metadata.name ?? ""}-kafka`,
      labels: { [labels.connectionSecret]: "composite" },
    },
    data: Object.fromEntries(
      Object.entries(details).map(([k, v]) => [k, Buffer.from(v).toString("base64")]),
    ),
  };
}

/** The composition resource name of a v2 XR's connection Secret. */
export const connectionSecretResource = "connection-secret";
