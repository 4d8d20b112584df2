import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parse, parseAllDocuments } from "yaml";
import cloneDeep from "lodash/cloneDeep.js";
import { generate, staleFiles } from "../../apis/generate.ts";
import { remoteRbacYaml } from "../../package/contents.ts";
import { validate, fieldPath, type FieldError } from "../../apis/validation.ts";

const example = parse(
  readFileSync(new URL("../../examples/claim-3-clusters.yaml", import.meta.url), "utf8"),
) as {
  spec: Record<string, unknown>;
};

function errorsOf(obj: unknown): FieldError[] {
  const r = validate("StretchKafka", obj);
  return r.valid ? [] : r.errors;
}

test("apis/generated matches a fresh generation from the schemas (drift check)", async () => {
  assert.deepEqual(await staleFiles(), [], "run npm run generate and commit the result");
});

test("generated YAML reads the same to Kubernetes' YAML 1.1 parsers as to ours (no bare Off, on, yes)", async () => {
  const files = [...(await generate())].filter(([name]) => name.endsWith(".yaml"));
  files.push(["remote-rbac.yaml", remoteRbacYaml()]);
  assert.ok(files.length > 5);
  for (const [name, text] of files) {
    const read = (version: "1.1" | "1.2"): unknown[] =>
      parseAllDocuments(text, { version }).map((d) => d.toJS() as unknown);
    assert.deepEqual(read("1.1"), read("1.2"), `${name} reads differently under YAML 1.1`);
  }
});

test("every schema property is a name, not prose a flow mapping split at a comma", async () => {
  const bad: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (!node || typeof node !== "object") return;
    const props = (node as { properties?: Record<string, unknown> }).properties;
    for (const [k, v] of Object.entries(props ?? {})) {
      if (/[\s,]/.test(k) || v === null) bad.push(`${path}.${k}`);
    }
    for (const [k, v] of Object.entries(node)) walk(v, `${path}.${k}`);
  };
  for (const [name, text] of await generate()) {
    if (!name.endsWith(".yaml")) continue;
    for (const d of parseAllDocuments(text)) walk(d.toJS(), name);
  }
  assert.deepEqual(bad, []);
});

test("the example claim is valid", () => {
  assert.deepEqual(errorsOf(example), []);
});

test("validation names the offending field", () => {
  const bad = cloneDeep(example) as {
    spec: { clusters: { nodePools: { replicas: unknown }[] }[] };
  };
  const pool = bad.spec.clusters[1]?.nodePools[0];
  assert.ok(pool);
  pool.replicas = -1;
  assert.deepEqual(errorsOf(bad), [
    { field: "spec.clusters[1].nodePools[0].replicas", message: "must be >= 0" },
  ]);

  pool.replicas = "three";
  assert.deepEqual(errorsOf(bad), [
    { field: "spec.clusters[1].nodePools[0].replicas", message: "must be integer" },
  ]);
});

test("validation reports missing and unknown-enum fields", () => {
  const bad = cloneDeep(example);
  delete bad.spec["clusters"];
  (bad.spec["networking"] as Record<string, unknown>)["provider"] = "carrier-pigeon";
  assert.deepEqual(errorsOf(bad), [
    { field: "spec.clusters", message: "is required" },
    {
      field: "spec.networking.provider",
      message: 'must be one of "mcs", "cilium", "istio", "nodeport", "loadbalancer"',
    },
  ]);
});

test("a RemoteSecret manifest cannot carry key material past the schema's shape", () => {
  const ok = {
    apiVersion: "remote.stretchkafka.dev/v1alpha1",
    kind: "RemoteSecret",
    metadata: { name: "orders-east-east-brokers-0" },
    spec: {
      providerConfigRef: { name: "east" },
      forProvider: {
        manifest: {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "orders-kafka-0", namespace: "kafka" },
        },
        certificate: {
          authority: "orders-x1",
          commonName: "orders-kafka-0",
          issuer: "ClusterCA",
          dnsNames: ["a.example"],
        },
      },
    },
  };
  assert.deepEqual(validate("RemoteSecret", ok), { valid: true });
  const wrongKind = cloneDeep(ok);
  wrongKind.spec.forProvider.manifest.kind = "ConfigMap";
  assert.deepEqual(validate("RemoteSecret", wrongKind), {
    valid: false,
    errors: [{ field: "spec.forProvider.manifest.kind", message: 'must be one of "Secret"' }],
  });
});

test("fieldPath turns JSON pointers into readable paths", () => {
  assert.equal(
    fieldPath("/spec/clusters/0/nodePools/12/name"),
    "spec.clusters[0].nodePools[12].name",
  );
  assert.equal(fieldPath("/spec/kafka/config/a~1b"), "spec.kafka.config.a/b");
  assert.equal(fieldPath(""), "");
});
