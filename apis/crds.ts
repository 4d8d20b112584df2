/**
 * Builds the Kubernetes and Crossplane definitions from the API sources:
 * the XRD (for Crossplane), the XR and claim CRDs that Crossplane would derive
 * from it (for standalone mode, where no Crossplane does that), and the
 * provider's CRDs. The Crossplane-injected fields follow Crossplane v2's
 * internal/xcrd for LegacyCluster XRDs.
 */
import cloneDeep from "lodash/cloneDeep.js";
import {
  inlineRefs,
  type ApiSource,
  type ManagedKindSource,
  type ManagedSource,
  type PrinterColumn,
  type Schema,
} from "./source.ts";

export interface KubeDocument {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: Schema;
}

const partOf = { "app.kubernetes.io/part-of": "stretch-kafka" };

/** The XR's own schema with refs inlined. */
export function compositeSchema(api: ApiSource): Schema {
  return inlineRefs(api.schema, api.definitions) as Schema;
}

/**
 * The XRD of an API shape: the legacy one (`apiextensions.crossplane.io/v1`,
 * LegacyCluster, with its claim and connection Secret keys), or Crossplane
 * v2's namespaced XR (ADR 0020), whose CRD Crossplane derives with its
 * machinery under spec.crossplane and which has no claim and no connection
 * details.
 */
export function xrd(
  api: ApiSource,
  shape: { legacy: { connectionSecretKeys: string[] } } | "namespaced",
): KubeDocument {
  const legacy = shape === "namespaced" ? undefined : shape.legacy;
  if (legacy && !api.claimNames) throw new Error(`${api.names.kind} has no claimNames`);
  return {
    apiVersion: `apiextensions.crossplane.io/${legacy ? "v1" : "v2"}`,
    kind: "CompositeResourceDefinition",
    metadata: { name: `${api.names.plural}.${api.group}`, labels: partOf },
    spec: {
      scope: legacy ? "LegacyCluster" : "Namespaced",
      group: api.group,
      names: { ...api.names, categories: api.categories },
      ...(legacy
        ? {
            claimNames: { ...api.claimNames, categories: api.categories },
          }
        : {}),
      defaultCompositionRef: { name: `${api.names.plural}.${api.group}` },
      ...(legacy ? { connectionSecretKeys: legacy.connectionSecretKeys } : {}),
      versions: [
        {
          name: api.version,
          served: true,
          referenceable: true,
          additionalPrinterColumns: api.printerColumns,
          schema: { openAPIV3Schema: compositeSchema(api) },
        },
      ],
    },
  };
}

const str = { type: "string" };
const nameRef = { type: "object", required: ["name"], properties: { name: str } };
const labelSelector = {
  type: "object",
  required: ["matchLabels"],
  properties: { matchLabels: { type: "object", additionalProperties: str } },
};

function crossplaneCommonSpec(): Record<string, Schema> {
  return {
    compositionRef: nameRef,
    compositionSelector: labelSelector,
    compositionRevisionRef: nameRef,
    compositionRevisionSelector: labelSelector,
    compositionUpdatePolicy: { type: "string", enum: ["Automatic", "Manual"] },
  };
}

/** Spec fields Crossplane adds to a LegacyCluster composite. */
export function compositeCrossplaneSpec(): Record<string, Schema> {
  return {
    ...crossplaneCommonSpec(),
    compositionUpdatePolicy: {
      type: "string",
      enum: ["Automatic", "Manual"],
      default: "Automatic",
    },
    resourceRefs: {
      type: "array",
      items: {
        type: "object",
        required: ["apiVersion", "kind"],
        properties: { apiVersion: str, name: str, namespace: str, kind: str },
      },
      "x-kubernetes-list-type": "atomic",
    },
    claimRef: {
      type: "object",
      required: ["apiVersion", "kind", "namespace", "name"],
      properties: { apiVersion: str, kind: str, namespace: str, name: str },
    },
    writeConnectionSecretToRef: {
      type: "object",
      required: ["name", "namespace"],
      properties: { name: str, namespace: str },
    },
  };
}

/** Spec fields Crossplane adds to a namespaced XR, under spec.crossplane (crossplane-runtime xcrd). */
export function namespacedCrossplaneSpec(): Record<string, Schema> {
  return {
    crossplane: {
      type: "object",
      description: "Configures how Crossplane will reconcile this composite resource",
      properties: {
        ...crossplaneCommonSpec(),
        resourceRefs: {
          type: "array",
          items: {
            type: "object",
            required: ["apiVersion", "kind"],
            properties: { apiVersion: str, name: str, kind: str },
          },
          "x-kubernetes-list-type": "atomic",
        },
      },
    },
  };
}

/** Spec fields Crossplane adds to a claim. */
export function claimCrossplaneSpec(): Record<string, Schema> {
  return {
    ...crossplaneCommonSpec(),
    compositeDeletePolicy: {
      type: "string",
      enum: ["Background", "Foreground"],
      default: "Background",
    },
    resourceRef: {
      type: "object",
      required: ["apiVersion", "kind", "name"],
      properties: { apiVersion: str, kind: str, name: str },
    },
    writeConnectionSecretToRef: nameRef,
  };
}

/** Status fields Crossplane adds to composites and claims. */
export function crossplaneStatus(): Record<string, Schema> {
  return {
    conditions: {
      description: "Conditions of the resource.",
      type: "array",
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["type"],
      items: {
        type: "object",
        required: ["lastTransitionTime", "reason", "status", "type"],
        properties: {
          lastTransitionTime: { type: "string", format: "date-time" },
          message: str,
          reason: str,
          status: str,
          type: str,
          observedGeneration: { type: "integer", format: "int64" },
        },
      },
    },
    connectionDetails: {
      type: "object",
      properties: { lastPublishedTime: { type: "string", format: "date-time" } },
    },
    claimConditionTypes: { type: "array", "x-kubernetes-list-type": "set", items: str },
  };
}

const syncedReady: PrinterColumn[] = [
  { name: "SYNCED", type: "string", jsonPath: ".status.conditions[?(@.type=='Synced')].status" },
  { name: "READY", type: "string", jsonPath: ".status.conditions[?(@.type=='Ready')].status" },
];
const age: PrinterColumn = { name: "AGE", type: "date", jsonPath: ".metadata.creationTimestamp" };

/** The full object schema of the composite or claim, as Crossplane would derive it. */
export type DerivedRole = "composite" | "claim" | "namespaced";

/** Status fields Crossplane adds: a namespaced XR's are its conditions only. */
const statusFor = (role: DerivedRole): Record<string, Schema> => {
  const all = crossplaneStatus();
  return role === "namespaced" ? { conditions: all["conditions"] ?? {} } : all;
};

const specFor = (role: DerivedRole): Record<string, Schema> =>
  role === "composite"
    ? compositeCrossplaneSpec()
    : role === "claim"
      ? claimCrossplaneSpec()
      : namespacedCrossplaneSpec();

export function derivedSchema(api: ApiSource, role: DerivedRole): Schema {
  const own = compositeSchema(api);
  const ownProps = own["properties"] as Record<string, Schema>;
  const spec = cloneDeep(ownProps["spec"] ?? {});
  const status = cloneDeep(ownProps["status"] ?? { type: "object" });
  const specProps = (spec["properties"] ?? {}) as Record<string, Schema>;
  spec["properties"] = {
    ...specProps,
    ...specFor(role),
  };
  status["properties"] = {
    ...((status["properties"] ?? {}) as Record<string, Schema>),
    ...statusFor(role),
  };
  return {
    type: "object",
    description: own["description"],
    required: ["spec"],
    properties: {
      apiVersion: str,
      kind: str,
      metadata: { type: "object", properties: { name: { type: "string", maxLength: 63 } } },
      spec,
      status,
    },
  };
}

export function derivedCrd(api: ApiSource, role: DerivedRole): KubeDocument {
  const names = role === "claim" ? api.claimNames : api.names;
  if (!names) throw new Error(`${api.names.kind} has no claimNames`);
  const columns: PrinterColumn[] =
    role === "namespaced"
      ? [
          ...syncedReady,
          {
            name: "COMPOSITION",
            type: "string",
            jsonPath: ".spec.crossplane.compositionRef.name",
          },
          age,
        ]
      : role === "composite"
        ? [
            ...syncedReady,
            { name: "COMPOSITION", type: "string", jsonPath: ".spec.compositionRef.name" },
            {
              name: "COMPOSITIONREVISION",
              type: "string",
              jsonPath: ".spec.compositionRevisionRef.name",
              priority: 1,
            },
            age,
          ]
        : [
            ...syncedReady,
            {
              name: "CONNECTION-SECRET",
              type: "string",
              jsonPath: ".spec.writeConnectionSecretToRef.name",
            },
            age,
          ];
  return crd({
    group: api.group,
    version: api.version,
    scope: role === "composite" ? "Cluster" : "Namespaced",
    names,
    categories: [...api.categories, role === "claim" ? "claim" : "composite"],
    columns: [...api.printerColumns, ...columns],
    schema: derivedSchema(api, role),
  });
}

/** The full object schema of a provider API with a single top-level schema. */
export function providerSchema(api: ApiSource): Schema {
  const own = inlineRefs(api.schema, api.definitions) as Schema;
  return {
    ...own,
    properties: {
      apiVersion: str,
      kind: str,
      metadata: { type: "object" },
      ...(own["properties"] as Record<string, Schema>),
    },
  };
}

export function providerCrd(api: ApiSource): KubeDocument {
  return crd({
    group: api.group,
    version: api.version,
    scope: api.scope ?? "Cluster",
    names: api.names,
    categories: api.categories,
    columns: api.printerColumns,
    schema: providerSchema(api),
  });
}

function mergeObjectSchemas(base: Schema, extra: Schema | undefined): Schema {
  if (!extra) return cloneDeep(base);
  const out = cloneDeep(base);
  const props = {
    ...((base["properties"] ?? {}) as Schema),
    ...((extra["properties"] ?? {}) as Schema),
  };
  if (Object.keys(props).length > 0) out["properties"] = props;
  const required = [
    ...((base["required"] ?? []) as string[]),
    ...((extra["required"] ?? []) as string[]),
  ];
  if (required.length > 0) out["required"] = required;
  const rules = [
    ...((base["x-kubernetes-validations"] ?? []) as Schema[]),
    ...((extra["x-kubernetes-validations"] ?? []) as Schema[]),
  ];
  if (rules.length > 0) out["x-kubernetes-validations"] = rules;
  for (const [k, v] of Object.entries(extra)) {
    if (!["properties", "required", "x-kubernetes-validations"].includes(k)) out[k] = v;
  }
  return out;
}

/** The manifest schema of one managed kind: apiVersion/kind pinned to the remote kind. */
function manifestSchema(kind: ManagedKindSource): Schema {
  const base: Schema = {
    type: "object",
    description: `The complete remote ${kind.remote.kind}.`,
    required: ["apiVersion", "kind", "metadata"],
    properties: {
      apiVersion: { type: "string", enum: kind.remote.apiVersions },
      kind: { type: "string", enum: [kind.remote.kind] },
      metadata: { $ref: "#/definitions/ObjectMeta" },
    },
  };
  return mergeObjectSchemas(base, kind.manifest);
}

/**
 * Definitions of one managed kind, named after it (RemoteSecretSpec, ...), with
 * refs left in place for type generation. `inlineRefs` turns them into CRD schemas.
 */
export function managedDefinitions(
  m: ManagedSource,
  kind: ManagedKindSource,
): Record<string, Schema> {
  const k = kind.kind;
  const spec = cloneDeep(m.common.spec);
  (spec["properties"] as Schema)["forProvider"] = { $ref: `#/definitions/${k}ForProvider` };
  const status = cloneDeep(m.common.status);
  (status["properties"] as Schema)["atProvider"] = { $ref: `#/definitions/${k}AtProvider` };
  const forProvider = mergeObjectSchemas(m.common.forProvider, kind.forProvider);
  (forProvider["properties"] as Schema)["manifest"] = { $ref: `#/definitions/${k}Manifest` };
  return {
    [k]: {
      type: "object",
      description: kind.description ?? `A ${kind.remote.kind} in a remote Kubernetes cluster.`,
      required: ["spec"],
      properties: {
        apiVersion: { type: "string", enum: [`${m.group}/${m.version}`] },
        kind: { type: "string", enum: [k] },
        metadata: { type: "object" },
        spec: { $ref: `#/definitions/${k}Spec` },
        status: { $ref: `#/definitions/${k}Status` },
      },
    },
    [`${k}Spec`]: spec,
    [`${k}Status`]: status,
    [`${k}ForProvider`]: forProvider,
    [`${k}Manifest`]: manifestSchema(kind),
    [`${k}AtProvider`]: mergeObjectSchemas(m.common.atProvider, kind.atProvider),
  };
}

/**
 * One type for a managed resource of any kind, as the function writes them
 * and the provider reconciles them: the common spec and status, every kind's
 * forProvider and atProvider fields (optional), and any remote manifest.
 * Types only: each kind's CRD keeps its own schema.
 */
export function anyManagedDefinitions(m: ManagedSource): Record<string, Schema> {
  const optional = (parts: (Schema | undefined)[]): Schema =>
    mergeObjectSchemas(
      { type: "object" },
      {
        properties: Object.assign(
          {},
          ...parts.map((p) => (p?.["properties"] ?? {}) as Schema),
        ) as Schema,
      },
    );
  const spec = cloneDeep(m.common.spec);
  (spec["properties"] as Schema)["forProvider"] = { $ref: "#/definitions/ManagedForProvider" };
  const status = cloneDeep(m.common.status);
  (status["properties"] as Schema)["atProvider"] = { $ref: "#/definitions/ManagedAtProvider" };
  const forProvider = mergeObjectSchemas(
    m.common.forProvider,
    optional(m.kinds.map((k) => k.forProvider)),
  );
  (forProvider["properties"] as Schema)["manifest"] = { $ref: "#/definitions/ManagedManifest" };
  return {
    ManagedResource: {
      type: "object",
      description: "A managed resource of any of the kinds: one remote object in one cluster.",
      required: ["apiVersion", "kind", "metadata", "spec"],
      properties: {
        apiVersion: { type: "string", enum: [`${m.group}/${m.version}`] },
        kind: { type: "string", enum: m.kinds.map((k) => k.kind) },
        metadata: { tsType: "KubeObjectMeta" },
        spec: { $ref: "#/definitions/ManagedResourceSpec" },
        status: { $ref: "#/definitions/ManagedResourceStatus" },
      },
      // A Kubernetes object like any other to the clients that read and write it.
      "x-kubernetes-preserve-unknown-fields": true,
    },
    ManagedResourceSpec: spec,
    ManagedResourceStatus: status,
    ManagedForProvider: forProvider,
    ManagedManifest: {
      type: "object",
      description: "The complete remote object.",
      required: ["apiVersion", "kind", "metadata"],
      properties: {
        apiVersion: { type: "string" },
        kind: { type: "string" },
        metadata: { tsType: "KubeObjectMeta" },
      },
      "x-kubernetes-preserve-unknown-fields": true,
    },
    ManagedAtProvider: mergeObjectSchemas(
      m.common.atProvider,
      optional(m.kinds.map((k) => k.atProvider)),
    ),
  };
}

export function managedSchema(m: ManagedSource, kind: ManagedKindSource): Schema {
  const defs = { ...m.definitions, ...managedDefinitions(m, kind) };
  return inlineRefs(defs[kind.kind], defs) as Schema;
}

export function managedCrd(m: ManagedSource, kind: ManagedKindSource): KubeDocument {
  return crd({
    group: m.group,
    version: m.version,
    scope: "Cluster",
    names: { kind: kind.kind, plural: kind.plural, singular: kind.kind.toLowerCase() },
    categories: m.categories,
    columns: [...m.common.printerColumns, ...(kind.printerColumns ?? [])],
    schema: managedSchema(m, kind),
  });
}

function crd(o: {
  group: string;
  version: string;
  scope: "Cluster" | "Namespaced";
  names: { kind: string; plural: string; singular?: string; listKind?: string };
  categories: string[];
  columns: PrinterColumn[];
  schema: Schema;
}): KubeDocument {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${o.names.plural}.${o.group}`, labels: partOf },
    spec: {
      group: o.group,
      names: {
        kind: o.names.kind,
        listKind: o.names.listKind ?? `${o.names.kind}List`,
        plural: o.names.plural,
        singular: o.names.singular ?? o.names.kind.toLowerCase(),
        categories: o.categories,
      },
      scope: o.scope,
      versions: [
        {
          name: o.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: o.columns,
          schema: { openAPIV3Schema: o.schema },
        },
      ],
    },
  };
}
