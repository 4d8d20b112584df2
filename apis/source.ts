/**
 * Loads the API source schemas (YAML in apis/) and turns them into the
 * self-contained OpenAPI v3 schemas that CRDs, validators and types are built from.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import cloneDeep from "lodash/cloneDeep.js";

export type Schema = Record<string, unknown>;

const apisDir = fileURLToPath(new URL(".", import.meta.url));

export function loadYaml(relativePath: string): unknown {
  const path = apisDir + relativePath;
  try {
    return parse(readFileSync(path, "utf8")) as unknown;
  } catch (cause) {
    throw new Error(`cannot read API source ${relativePath}`, { cause });
  }
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  priority?: number;
  description?: string;
}

export interface CrdNames {
  kind: string;
  plural: string;
  singular?: string;
  listKind?: string;
}

/** An API defined by one source file with a single top-level schema. */
export interface ApiSource {
  group: string;
  version: string;
  scope?: "Cluster" | "Namespaced";
  names: CrdNames;
  claimNames?: CrdNames;
  categories: string[];
  printerColumns: PrinterColumn[];
  schema: Schema;
  definitions: Record<string, Schema>;
  ownedConfigKeys?: OwnedConfigKeys;
}

export interface OwnedConfigKeys {
  exact: string[];
  prefixes: string[];
}

export interface ManagedKindSource {
  kind: string;
  plural: string;
  description?: string;
  remote: { apiVersions: string[]; kind: string };
  manifest: Schema;
  forProvider?: Schema;
  atProvider: Schema;
  printerColumns?: PrinterColumn[];
}

export interface ManagedSource {
  group: string;
  version: string;
  categories: string[];
  common: {
    spec: Schema;
    status: Schema;
    forProvider: Schema;
    atProvider: Schema;
    printerColumns: PrinterColumn[];
  };
  kinds: ManagedKindSource[];
  definitions: Record<string, Schema>;
}

export function commonDefinitions(): Record<string, Schema> {
  return (loadYaml("common.yaml") as { definitions: Record<string, Schema> }).definitions;
}

export function loadApi(relativePath: string): ApiSource {
  const api = loadYaml(relativePath) as ApiSource;
  return { ...api, definitions: { ...commonDefinitions(), ...api.definitions } };
}

export function loadManaged(): ManagedSource {
  const m = loadYaml("remote.stretchkafka.dev/managed.yaml") as ManagedSource;
  return { ...m, definitions: { ...commonDefinitions(), ...m.definitions } };
}

/** Replaces every local `$ref` with the definition it names (CRD schemas cannot hold refs). */
export function inlineRefs(
  schema: unknown,
  definitions: Record<string, Schema>,
  seen: string[] = [],
): unknown {
  if (Array.isArray(schema)) return schema.map((s) => inlineRefs(s, definitions, seen));
  if (schema === null || typeof schema !== "object") return schema;
  const obj = schema as Schema;
  const ref = obj["$ref"];
  if (typeof ref === "string") {
    const name = ref.replace(/^#\/definitions\//, "");
    const target = definitions[name];
    if (target === undefined) throw new Error(`unknown $ref ${ref}`);
    if (seen.includes(name)) throw new Error(`recursive $ref ${[...seen, name].join(" -> ")}`);
    const { $ref: _ignored, ...siblings } = obj;
    return {
      ...(inlineRefs(cloneDeep(target), definitions, [...seen, name]) as Schema),
      ...siblings,
    };
  }
  const out: Schema = {};
  for (const [k, v] of Object.entries(obj)) out[k] = inlineRefs(v, definitions, seen);
  return out;
}
