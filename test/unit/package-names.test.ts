/**
 * The Composition names function-stretch-kafka as Crossplane names the Function
 * it installs for the Configuration's dependency.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { defaultRegistry, installedName, packages } from "../../package/contents.ts";
import { functionName } from "../../functions/render.ts";
import { ourXrdFile } from "../../apis/generated-files.ts";
import { defaultCompositionName } from "../../controller/engine/context.ts";

test("a dependency is named after its repository path, made a DNS label", () => {
  assert.equal(
    installedName("xpkg.stretchkafka.dev/stretch-kafka/function-stretch-kafka"),
    "stretch-kafka-function-stretch-kafka",
  );
  assert.equal(
    installedName("127.0.0.1:5000/stretch-kafka/function-stretch-kafka:v0.1.0"),
    "stretch-kafka-function-stretch-kafka",
  );
  assert.equal(
    installedName("ghcr.io/acme.corp/function-stretch-kafka"),
    "acme-corp-function-stretch-kafka",
  );
  assert.equal(installedName("localhost/team/fn"), "team-fn");
  const long = installedName(`registry.example/${"a".repeat(40)}/${"b".repeat(40)}`);
  assert.ok(long.length <= 63 && !long.endsWith("-"), long);
});

test("the committed Composition names the Function as a default install names it", () => {
  const composition = parse(
    readFileSync(new URL("../../compositions/xstretchkafka.yaml", import.meta.url), "utf8"),
  ) as { spec: { pipeline: { functionRef: { name: string } }[] } };
  const named = composition.spec.pipeline.map((s) => s.functionRef.name);
  assert.deepEqual(named, [functionName]);
  assert.equal(functionName, installedName(`${defaultRegistry}/${packages.function}`));
});

test("the committed Composition is the one the XRD and the standalone engine take by default", () => {
  const composition = parse(
    readFileSync(new URL("../../compositions/xstretchkafka.yaml", import.meta.url), "utf8"),
  ) as { metadata: { name: string } };
  const xrd = parse(readFileSync(ourXrdFile(), "utf8")) as {
    spec: { defaultCompositionRef: { name: string } };
  };
  assert.equal(xrd.spec.defaultCompositionRef.name, composition.metadata.name);
  assert.equal(defaultCompositionName, composition.metadata.name);
});
