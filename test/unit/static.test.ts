/** The code (tests included) type-checks, lints and is formatted: CI enforces it through `npm test`. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "../../devbed/run.ts";
import { buildController, imageEntrypoint, runtime } from "../../package/build.ts";

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
  // What ships is what the CLI's entry point reaches: build it into a scratch
  // directory and look at every source the bundle was made of.
  const out = mkdtempSync(join(tmpdir(), "stretch-kafka-build-"));
  try {
    const { entry, inputs } = await buildController(out);
    assert.ok(existsSync(entry), "the CLI was built");
    assert.ok(
      inputs.some((f) => f === "controller/provider/provider.ts"),
      "the bundle's inputs are listed relative to the project",
    );
    const leaked = inputs.filter((f) => /^(devbed|test|bench)\//.test(f));
    assert.deepEqual(leaked, [], "nothing of devbed/, test/ or bench/ is built into dist/");
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const dockerfile = readFileSync(join(root, "package", "Dockerfile"), "utf8");
  assert.doesNotMatch(dockerfile, /COPY\s+(devbed|test|bench)\b/, "the images copy no dev bed");
});

test("the images start Node.js as package/build.ts says (the benchmarks run it so)", () => {
  const dockerfile = readFileSync(join(root, "package", "Dockerfile"), "utf8");
  const entrypoints = [...dockerfile.matchAll(/^ENTRYPOINT\s+(\[.*\])$/gm)].map(
    (m) => JSON.parse(m[1] ?? "") as unknown,
  );
  assert.deepEqual(entrypoints, [imageEntrypoint]);
  const env: Record<string, string> = {};
  for (const m of dockerfile.matchAll(/^ENV\s+(\w+)=(\S+)$/gm)) env[m[1] ?? ""] = m[2] ?? "";
  assert.deepEqual(env, runtime.env);
});

test(
  "the lint rule rejects a product import of the development bed",
  { timeout: 120_000 },
  async () => {
    const { ESLint } = await import("eslint");
    const eslint = new ESLint({ cwd: root });
    // Linted as if it were the CLI's entry point, so the product's rules apply.
    const [result] = await eslint.lintText(
      'import { sandbox } from "../../devbed/sandbox.ts";\nexport const s = sandbox;\n',
      { filePath: join(root, "controller", "cli", "main.ts") },
    );
    const rules = (result?.messages ?? []).map((m) => m.ruleId);
    assert.ok(rules.includes("no-restricted-imports"), `rules reported: ${rules.join(", ")}`);
    const [bed] = await eslint.lintText(
      'import { run } from "../run.ts";\nexport const r = run;\n',
      {
        filePath: join(root, "devbed", "kafka", "tools.ts"),
      },
    );
    assert.ok(
      !(bed?.messages ?? []).some((m) => m.ruleId === "no-restricted-imports"),
      "the development bed itself may import it",
    );
  },
);
