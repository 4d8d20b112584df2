/** The claims in examples/ and their observed state, for data-driven tests. */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse, parseAllDocuments } from "yaml";
import type { KubeObject } from "../functions/render.ts";
import { groups } from "../apis/index.ts";

export const examplesDir = fileURLToPath(new URL("../examples/", import.meta.url));

export const exampleClaims = readdirSync(examplesDir)
  .filter((f) => f.startsWith("claim-") && f.endsWith(".yaml"))
  .sort();

/** The ProviderConfigs every example's clusters name (the function requires them). */
export const exampleProviderConfigs = `${examplesDir}providerconfigs.yaml`;

function readStream(path: string): KubeObject[] {
  return parseAllDocuments(readFileSync(path, "utf8"))
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

export function loadExample(file: string): {
  claim: KubeObject;
  observed: KubeObject[];
  required: KubeObject[];
} {
  const claim = parse(readFileSync(examplesDir + file, "utf8")) as KubeObject;
  const observedFile = `${examplesDir}observed/${file}`;
  const observed = existsSync(observedFile) ? readStream(observedFile) : [];
  return { claim, observed, required: readStream(exampleProviderConfigs) };
}

/** An example claim as a namespaced v2 StretchKafka (ADR 0020): the same spec, in `namespace`. */
export function asNamespacedXr(claim: KubeObject, namespace = "team-a"): KubeObject {
  return {
    apiVersion: groups.namespacedComposite,
    kind: "StretchKafka",
    metadata: { name: claim.metadata.name ?? "", namespace },
    spec: structuredClone(claim["spec"]),
  };
}

/**
 * The examples' ProviderConfigs as the configs a v2 StretchKafka names:
 * ClusterProviderConfigs, or ProviderConfigs of `namespace`.
 */
export function asNamespacedConfigs(
  required: KubeObject[],
  kind: "ClusterProviderConfig" | "ProviderConfig" = "ClusterProviderConfig",
  namespace?: string,
): KubeObject[] {
  return required.map((pc) => ({
    ...structuredClone(pc),
    apiVersion: groups.namespacedRemote,
    kind,
    metadata: { ...pc.metadata, ...(namespace ? { namespace } : {}) },
  }));
}
