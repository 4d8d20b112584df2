/**
 * The Crossplane v2 shape of the same APIs (ADR 0020), derived from the
 * legacy sources so that the two can never drift apart: a namespaced
 * `StretchKafka` XR in `kafka.stretchkafka.dev` (no claim, no cluster-scoped
 * composite) composing namespaced managed resources in
 * `remote.m.stretchkafka.dev`, which name a namespaced `ProviderConfig` or a
 * `ClusterProviderConfig` by `providerConfigRef: {kind, name}`.
 */
import cloneDeep from "lodash/cloneDeep.js";
import type { ApiSource, Schema } from "./source.ts";

export const namespacedCompositeGroup = "kafka.stretchkafka.dev";
export const namespacedRemoteGroup = "remote.m.stretchkafka.dev";

/** The kinds a namespaced managed resource's providerConfigRef may name. */
export const providerConfigKinds = ["ClusterProviderConfig", "ProviderConfig"] as const;
export type ProviderConfigKind = (typeof providerConfigKinds)[number];

/**
 * A namespaced XR's providerConfigRef: the kind defaults to the cluster-scoped
 * one, which the platform team owns (a namespaced ProviderConfig is the app
 * team's own credentials).
 */
const typedProviderConfigRef: Schema = {
  type: "object",
  description:
    "The config of the remote cluster: a ClusterProviderConfig, or a ProviderConfig of this namespace.",
  required: ["name"],
  properties: {
    kind: { type: "string", enum: [...providerConfigKinds], default: "ClusterProviderConfig" },
    name: { type: "string", minLength: 1 },
  },
};

/** The connection Secret a namespaced XR composes (it has no connection details). */
const connectionSecretRef: Schema = {
  type: "object",
  description:
    "The Secret in this namespace that holds what a client needs (bootstrap.servers, ca.crt, ...). Default: <name>-kafka.",
  required: ["name"],
  properties: { name: { type: "string", minLength: 1, maxLength: 253 } },
};

/** The v2 XR's source: the legacy composite's schema, its own group and names, no claim. */
export function namespacedComposite(xsk: ApiSource): ApiSource {
  if (!xsk.claimNames) throw new Error(`${xsk.names.kind} has no claimNames`);
  const schema = cloneDeep(xsk.schema);
  const props = schema["properties"] as Record<string, Schema>;
  const spec = props["spec"] ?? {};
  props["spec"] = inlineSpec(spec, xsk);
  const { claimNames: _none, ...rest } = xsk;
  return {
    ...rest,
    group: namespacedCompositeGroup,
    scope: "Namespaced",
    names: { ...xsk.claimNames },
    // Each cluster's providerConfigRef names its kind too.
    schema: typed(schema) as Schema,
    definitions: typedAll(xsk.definitions),
  };
}

/** The spec with writeConnectionSecretToRef added (legacy XRs get theirs from Crossplane). */
function inlineSpec(spec: Schema, xsk: ApiSource): Schema {
  const ref = spec["$ref"];
  const base =
    typeof ref === "string"
      ? cloneDeep(xsk.definitions[ref.replace(/^#\/definitions\//, "")] ?? {})
      : cloneDeep(spec);
  base["properties"] = {
    ...((base["properties"] ?? {}) as Record<string, Schema>),
    writeConnectionSecretToRef: connectionSecretRef,
  };
  return base;
}

/**
 * A provider API in the `.m.` group: namespaced unless `scope` says otherwise,
 * with every `providerConfigRef` typed and the immutability rules comparing
 * the kind too.
 */
export function namespacedProvider(
  api: ApiSource,
  o: { kind?: string; plural?: string; scope?: "Cluster" | "Namespaced" } = {},
): ApiSource {
  const kind = o.kind ?? api.names.kind;
  const plural = o.plural ?? api.names.plural;
  return {
    ...api,
    group: namespacedRemoteGroup,
    scope: o.scope ?? "Namespaced",
    names: {
      ...api.names,
      kind,
      plural,
      singular: kind.toLowerCase(),
      listKind: `${kind}List`,
    },
    schema: typed(cloneDeep(api.schema)) as Schema,
    definitions: typedAll(api.definitions),
  };
}

const typedAll = (definitions: Record<string, Schema>): Record<string, Schema> =>
  Object.fromEntries(
    Object.entries(definitions).map(([k, v]) => [k, typed(cloneDeep(v)) as Schema]),
  );

function typed(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(typed);
  if (s === null || typeof s !== "object") return s;
  const o: Schema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === "providerConfigRef") o[k] = cloneDeep(typedProviderConfigRef);
    else if (k === "rule" && typeof v === "string")
      o[k] = v.replace(
        "self.providerConfigRef.name == oldSelf.providerConfigRef.name",
        "self.providerConfigRef == oldSelf.providerConfigRef",
      );
    else o[k] = typed(v);
  }
  return o;
}
