/** The code (tests included) type-checks, lints and is formatted: CI enforces it through `npm test`. */
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { run } from "../bed/run.ts";

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
