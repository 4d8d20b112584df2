/**
 * Runtime validation with the same schemas the API server enforces (ajv).
 * CEL rules (x-kubernetes-validations) are the API server's; code that needs
 * those checks makes them itself with its own messages.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { schemas, type SchemaName } from "./generated/schemas.generated.ts";

export interface FieldError {
  /** Dotted path of the offending field, e.g. spec.clusters[0].nodePools[1].replicas. */
  field: string;
  message: string;
}

export type ValidationResult = { valid: true } | { valid: false; errors: FieldError[] };

const kubernetesKeywords = [
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-int-or-string",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-validations",
  "x-kubernetes-embedded-resource",
  "x-kubernetes-map-type",
];

function newAjv(useDefaults: boolean): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, useDefaults });
  for (const keyword of kubernetesKeywords) ajv.addKeyword({ keyword });
  ajv.addFormat("date-time", /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isSafeInteger(n) });
  return ajv;
}

const checking = { ajv: newAjv(false), compiled: new Map<SchemaName, ValidateFunction>() };
const defaulting = { ajv: newAjv(true), compiled: new Map<SchemaName, ValidateFunction>() };

function validatorFor(name: SchemaName, by = checking): ValidateFunction {
  let v = by.compiled.get(name);
  if (!v) {
    v = by.ajv.compile(schemas[name]);
    by.compiled.set(name, v);
  }
  return v;
}

/**
 * A copy of `obj` with the schema's defaults filled in where fields are
 * absent, as the API server defaults what it stores: the one place a
 * default is written is the schema. `obj` itself is not changed.
 */
export function withDefaults<T>(name: SchemaName, obj: T): T {
  const copy = structuredClone(obj);
  validatorFor(name, defaulting)(copy);
  return copy;
}

/** The default the schema of `name` gives the field at `path` (dotted, e.g. spec.kafka.version). */
export function schemaDefault(name: SchemaName, path: string): unknown {
  let node: Record<string, unknown> | undefined = schemas[name];
  for (const key of path.split(".")) {
    node = (node?.["properties"] as Record<string, Record<string, unknown>> | undefined)?.[key];
  }
  return node?.["default"];
}

/** `/spec/clusters/0/name` → `spec.clusters[0].name` */
export function fieldPath(pointer: string): string {
  return pointer
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");
}

function toFieldError(e: ErrorObject): FieldError {
  let field = fieldPath(e.instancePath);
  if (e.keyword === "required") {
    const missing = (e.params as { missingProperty: string }).missingProperty;
    field = field ? `${field}.${missing}` : missing;
    return { field, message: "is required" };
  }
  if (e.keyword === "enum") {
    const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
    return { field, message: `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}` };
  }
  return { field, message: e.message ?? e.keyword };
}

/** Validates an object against the schema of one of our kinds. */
export function validate(name: SchemaName, obj: unknown): ValidationResult {
  const v = validatorFor(name);
  if (v(obj)) return { valid: true };
  const seen = new Set<string>();
  const errors: FieldError[] = [];
  for (const e of v.errors ?? []) {
    // anyOf branches (int-or-string) report once per branch; keep the summary.
    if (e.keyword === "type" && e.schemaPath.includes("/anyOf/")) continue;
    const fe = toFieldError(e);
    const key = `${fe.field}: ${fe.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      errors.push(fe);
    }
  }
  return { valid: false, errors };
}

export function formatErrors(errors: FieldError[]): string {
  return errors.map((e) => `${e.field || "(root)"} ${e.message}`).join("; ");
}
