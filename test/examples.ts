/** The claims in examples/ and their observed state, for data-driven tests. */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse, parseAllDocuments } from "yaml";
import type { KubeObject } from "../functions/render.ts";

export const examplesDir = fileURLToPath(new URL("../examples/", import.meta.url));

export const exampleClaims = readdirSync(examplesDir)
  .filter((f) => f.startsWith("claim-") && f.endsWith(".yaml"))
  .sort();

export function loadExample(file: string): { claim: KubeObject; observed: KubeObject[] } {
  const claim = parse(readFileSync(examplesDir + file, "utf8")) as KubeObject;
  const observedFile = `${examplesDir}observed/${file}`;
  const observed = existsSync(observedFile)
    ? parseAllDocuments(readFileSync(observedFile, "utf8")).map((d) => d.toJS() as KubeObject)
    : [];
  return { claim, observed };
}
