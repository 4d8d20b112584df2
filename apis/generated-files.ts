/** Where the generated CRDs and the XRD are, for packaging and installing them. */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const generatedCrdDir = fileURLToPath(new URL("./generated/crds/", import.meta.url));

/** Our generated CRDs (XR and claim CRDs as Crossplane would derive them, provider CRDs), not the XRD. */
export function ourCrdFiles(): string[] {
  return readdirSync(generatedCrdDir)
    .filter((f) => f.endsWith(".yaml") && !f.endsWith(".xrd.yaml"))
    .sort()
    .map((f) => join(generatedCrdDir, f));
}

export function ourXrdFile(): string {
  const xrd = readdirSync(generatedCrdDir).find((f) => f.endsWith(".xrd.yaml"));
  if (!xrd) throw new Error("apis/generated/crds has no XRD; run npm run generate");
  return join(generatedCrdDir, xrd);
}
