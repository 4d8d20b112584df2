/** Where the generated CRDs and the XRD are, for packaging and installing them. */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const generatedCrdDir = fileURLToPath(new URL("./generated/crds/", import.meta.url));

/** The files of the Crossplane v2 shape (ADR 0020): its XR group and the `.m.` managed group. */
const isNamespacedShape = (f: string): boolean =>
  f.startsWith("kafka.stretchkafka.dev_") || f.startsWith("remote.m.stretchkafka.dev_");

/**
 * Our generated CRDs (XR and claim CRDs as Crossplane would derive them,
 * provider CRDs), not the XRDs, of one API shape. The v2 shape's are
 * generated and its composition is built (the function composes it), but
 * neither the provider nor the standalone engine serves it yet (issue 28),
 * so no package or install carries them.
 */
export function ourCrdFiles(shape: "legacy" | "namespaced" = "legacy"): string[] {
  return readdirSync(generatedCrdDir)
    .filter((f) => f.endsWith(".yaml") && !f.endsWith(".xrd.yaml"))
    .filter((f) => isNamespacedShape(f) === (shape === "namespaced"))
    .sort()
    .map((f) => join(generatedCrdDir, f));
}

/** The XRD of one API shape: the legacy composite and claim, or the namespaced v2 XR (ADR 0020). */
export function ourXrdFile(shape: "legacy" | "namespaced" = "legacy"): string {
  const name =
    shape === "legacy"
      ? "stretchkafka.dev_xstretchkafkas.xrd.yaml"
      : "kafka.stretchkafka.dev_stretchkafkas.xrd.yaml";
  if (!readdirSync(generatedCrdDir).includes(name))
    throw new Error(`apis/generated/crds has no ${name}; run npm run generate`);
  return join(generatedCrdDir, name);
}
