/**
 * Golden files: every claim in examples/ (with examples/observed/<name>.yaml
 * as observed state, if present) renders with the shipped Composition exactly
 * to examples/rendered/<name>.yaml (a RemoteObjectSet per remote cluster; an
 * example observed per object stays per object, as a running composite does).
 * UPDATE_GOLDEN=1 rewrites them after an intended change; review the diff.
 */
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { render, shippedInput, toYamlStream } from "../../functions/render.ts";
import { exampleClaims, examplesDir, loadExample } from "../examples.ts";
import { validate } from "../../apis/validation.ts";
import { readYamlDocuments } from "../../devbed/external-crds.ts";
import type { KubeObject } from "../../controller/kube/dynamic.ts";

const dir = examplesDir;

test("there are examples for every networking provider and both quorum modes", () => {
  const specs = exampleClaims.map(
    (f) =>
      loadExample(f).claim["spec"] as {
        networking: { provider: string };
        quorum?: { mode: string };
      },
  );
  assert.deepEqual([...new Set(specs.map((s) => s.networking.provider))].sort(), [
    "cilium",
    "istio",
    "loadbalancer",
    "mcs",
    "nodeport",
  ]);
  assert.deepEqual([...new Set(specs.map((s) => s.quorum?.mode ?? "static"))].sort(), [
    "dynamic",
    "static",
  ]);
});

for (const file of exampleClaims) {
  test(`${file} is a valid claim and renders to examples/rendered/${file}`, () => {
    const { claim, observed, required } = loadExample(file);
    assert.deepEqual(validate("StretchKafka", claim), { valid: true });
    const out = toYamlStream(render(claim, observed, required, undefined, shippedInput));
    const golden = `${dir}rendered/${file}`;
    if (process.env["UPDATE_GOLDEN"]) {
      mkdirSync(`${dir}rendered`, { recursive: true });
      writeFileSync(golden, out);
    }
    assert.ok(
      existsSync(golden),
      `no golden file ${golden}; run UPDATE_GOLDEN=1 npm test -- test/unit/examples.test.ts`,
    );
    assert.equal(
      out,
      readFileSync(golden, "utf8"),
      `${file} renders differently from its golden file`,
    );
  });
}

test("the shipped Composition gives its step the input render uses", () => {
  const composition = readYamlDocuments(
    fileURLToPath(new URL("../../compositions/xstretchkafka.yaml", import.meta.url)),
  )[0] as { spec: { pipeline: { input?: unknown }[] } };
  assert.deepEqual(
    composition.spec.pipeline.map((s) => s.input),
    [shippedInput],
  );
});

test("every rendered managed resource passes its kind's schema, either shape", () => {
  for (const file of exampleClaims) {
    const { claim, observed, required } = loadExample(file);
    for (const input of [undefined, shippedInput])
      for (const o of render(claim, observed, required, undefined, input).slice(1)) {
        const r = validate(o.kind as "RemoteConfigMap", o);
        assert.deepEqual(r, { valid: true }, `${file}: ${o.kind} ${o.metadata.name ?? ""}`);
      }
  }
});

test("the KafkaTopic and KafkaUser examples pass their schemas; a bad ACL is refused naming the field", () => {
  const docs = ["kafkatopic.yaml", "kafkauser.yaml"].flatMap((f) =>
    readYamlDocuments(`${dir}${f}`),
  ) as KubeObject[];
  assert.deepEqual(
    docs.map((d) => d.kind),
    ["KafkaTopic", "KafkaUser", "KafkaUser"],
  );
  for (const d of docs)
    assert.deepEqual(
      validate(d.kind as "KafkaTopic" | "KafkaUser", d),
      { valid: true },
      d.metadata.name,
    );
  const user = structuredClone(docs[1]) as KubeObject & {
    spec: { authorization: { acls: { operations: string[] }[] } };
  };
  const acl = user.spec.authorization.acls[0];
  assert.ok(acl);
  acl.operations = ["Publish"];
  const result = validate("KafkaUser", user);
  assert.equal(result.valid, false);
  assert.match(JSON.stringify(result), /operations/);
});
