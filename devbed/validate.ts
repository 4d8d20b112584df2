/**
 * `crossplane beta validate`, offline: validate would download the Crossplane
 * image for Crossplane's own schemas; its cache is filled from the crossplane
 * Go module instead (no container registry here).
 */
import { cpSync, mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { crankBinary, crossplaneVersion } from "./build.ts";
import { externalCrds } from "./external-crds.ts";
import { run, RunError, type RunResult } from "./run.ts";

const coreImage = `stretchkafka.dev/crossplane-core:${crossplaneVersion()}`;

/** Validates resources (file or directory) against extensions (XRDs, CRDs; file or directory). */
export type Validate = (extensions: string, resources: string) => Promise<RunResult>;

/** A validate command whose cache lives under `work`. */
export async function validator(work: string): Promise<Validate> {
  const crank = (await crankBinary()).path;
  const cache = join(work, "validate-cache");
  const coreDir = join(cache, coreImage.replace(":", "@"));
  mkdirSync(coreDir, { recursive: true });
  for (const f of (await externalCrds()).crossplane) cpSync(f, join(coreDir, basename(f)));
  return (extensions, resources) =>
    run(crank, [
      "beta",
      "validate",
      extensions,
      resources,
      "--crossplane-image",
      coreImage,
      "--cache-dir",
      cache,
      "--error-on-missing-schemas",
    ]);
}

/** The lines of validate's output that say what it refused. */
export function refusals(err: unknown): string {
  return (err instanceof RunError ? err.stdout : String(err))
    .split("\n")
    .filter((l) => /^\s*\[(x|!)\]/.test(l))
    .join("\n");
}

/** validate's closing line for `n` resources all accepted. */
export function allAccepted(n: number): RegExp {
  return new RegExp(
    `Total ${String(n)} resources: 0 missing schemas, ${String(n)} success cases, 0 failure cases`,
  );
}
