/** The code (tests included) type-checks, lints and is formatted: CI enforces it through `npm test`. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "../../devbed/run.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = (name: string): string => `${root}node_modules/.bin/${name}`;

test("tsc --noEmit with the strict settings reports nothing", { timeout: 300_000 }, async () => {
  await run(bin("tsc"), ["--noEmit", "-p", "tsconfig.json"], { cwd: root });
});

test("eslint (type-checked rules) reports nothing", { timeout: 300_000 }, async () => {
  await run(bin("eslint"), ["--max-warnings=0", "."], { cwd: root });
});

test("prettier finds nothing to reformat", { timeout: 120_000 }, async () => {
  await run(bin("prettier"), ["--check", "."], { cwd: root });
});

test("the build and the images leave the development bed out", { timeout: 300_000 }, async () => {
  // What ships is what the CLI's entry point reaches: compile it into a
  // scratch directory and look at every file tsc emits.
  const out = mkdtempSync(join(tmpdir(), "stretch-kafka-build-"));
  try {
    await run(bin("tsc"), ["-p", "tsconfig.build.json", "--outDir", out], { cwd: root });
    const emitted = readdirSync(out, { recursive: true, encoding: "utf8" });
    assert.ok(
      emitted.some((f) => f.endsWith("main.js")),
      "the CLI was built",
    );
    const leaked = emitted.filter((f) => /^(devbed|test|bench)\b/.test(f));
    assert.deepEqual(leaked, [], "nothing of devbed/, test/ or bench/ is built into dist/");
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const dockerfile = readFileSync(join(root, "package", "Dockerfile"), "utf8");
  assert.doesNotMatch(dockerfile, /COPY\s+(devbed|test|bench)\b/, "the images copy no dev bed");
});
