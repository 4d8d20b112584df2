/**
 * `npm run package`: the three Crossplane packages and the standalone install.
 *
 *   dist/package/<name>/        each package's root (package/contents.ts)
 *   dist/xpkg/<name>-v<v>.xpkg  built by the real crossplane CLI (xpkg build)
 *   dist/install/crds.yaml      standalone: our CRDs and Crossplane's Composition CRD
 *   dist/install/controller.yaml  standalone: namespace, identity, RBAC,
 *                               Deployment and the Composition
 *   dist/install/monitoring.yaml  the controller's ServiceMonitor and alerts,
 *                               the Grafana dashboards as ConfigMaps
 *
 * It also writes package/standalone/remote-rbac.yaml, the remote identity
 * register-cluster creates, from the same code (a test fails when it drifts).
 *
 *   --out DIR                      instead of dist/
 *   --registry REG                 where the Function and Provider packages are
 *                                  pushed (the Configuration's dependsOn)
 *   --function-runtime-tarball F   embed this image (docker save) as the Function's runtime
 *   --provider-runtime-tarball F   embed this image as the Provider's runtime
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  assembleStandalone,
  assemblePackages,
  defaultRegistry,
  packages,
  remoteRbacFile,
  remoteRbacYaml,
  version,
  type PackageKind,
} from "../package/contents.ts";
import { crankBinary } from "./build.ts";
import { externalCrds } from "./external-crds.ts";
import { run } from "./run.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

export interface BuildOptions {
  registry?: string;
  /** Runtime images (docker save tarballs) to embed, by package. */
  runtimeTarballs?: Partial<Record<"function" | "provider", string>>;
  log?: (msg: string) => void;
}

/** Assembles and builds the three packages with `crossplane xpkg build`; returns the .xpkg paths. */
export async function buildPackages(
  out: string,
  o: BuildOptions = {},
): Promise<Record<PackageKind, string>> {
  const crank = (await crankBinary(o.log)).path;
  const dirs = assemblePackages(out, o.registry);
  mkdirSync(join(out, "xpkg"), { recursive: true });
  const files = {} as Record<PackageKind, string>;
  for (const kind of Object.keys(packages) as PackageKind[]) {
    const file = join(out, "xpkg", `${packages[kind]}-${version()}.xpkg`);
    const tarball = kind === "configuration" ? undefined : o.runtimeTarballs?.[kind];
    try {
      await run(crank, [
        "xpkg",
        "build",
        `--package-root=${dirs[kind]}`,
        `--examples-root=${join(dirs[kind], "examples")}`,
        `--package-file=${file}`,
        ...(tarball ? [`--embed-runtime-image-tarball=${tarball}`] : []),
      ]);
    } catch (cause) {
      throw new Error(`crossplane xpkg build refused ${packages[kind]}`, { cause });
    }
    files[kind] = file;
  }
  return files;
}

/** Crossplane's Composition CRD, from the crossplane module (fetched once, cached). */
export async function compositionCrd(): Promise<string> {
  const found = (await externalCrds()).crossplane.filter((f) =>
    f.endsWith("apiextensions.crossplane.io_compositions.yaml"),
  );
  const [file] = found;
  if (found.length !== 1 || !file)
    throw new Error("the crossplane module has no apiextensions.crossplane.io_compositions.yaml");
  return file;
}

/** The standalone install, with Crossplane's Composition CRD. */
export async function standaloneInstall(
  out: string,
): Promise<ReturnType<typeof assembleStandalone>> {
  return assembleStandalone(out, await compositionCrd());
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: "string", default: join(root, "dist") },
      registry: { type: "string", default: defaultRegistry },
      "function-runtime-tarball": { type: "string" },
      "provider-runtime-tarball": { type: "string" },
    },
  });
  const log = (m: string): void => {
    console.log(m);
  };
  writeFileSync(remoteRbacFile, remoteRbacYaml());
  log(`wrote ${remoteRbacFile}`);
  const runtimeTarballs: BuildOptions["runtimeTarballs"] = {};
  if (values["function-runtime-tarball"])
    runtimeTarballs.function = values["function-runtime-tarball"];
  if (values["provider-runtime-tarball"])
    runtimeTarballs.provider = values["provider-runtime-tarball"];
  const built = await buildPackages(values.out, {
    registry: values.registry,
    runtimeTarballs,
    log,
  });
  for (const kind of Object.keys(packages) as PackageKind[]) {
    const embedded = kind !== "configuration" && runtimeTarballs[kind] ? " (runtime embedded)" : "";
    log(`built ${built[kind]}${embedded}`);
  }
  const install = await standaloneInstall(values.out);
  log(`wrote ${install.crds}, ${install.controller} and ${install.monitoring}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(`npm run package: ${err instanceof Error ? err.message : String(err)}`);
    if (err instanceof Error && err.cause) console.error(err.cause);
    process.exit(1);
  });
}
