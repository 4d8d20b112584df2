/**
 * CRDs of the projects we integrate with, fetched at test time from their
 * published artifacts (never committed): Crossplane, MCS and the Prometheus
 * Operator from their Go modules, Strimzi from its api test-jar on Maven
 * Central.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { crossplaneVersion } from "./build.ts";
import { cacheDir } from "./cache.ts";
import { run } from "./run.ts";

export const versions = {
  mcs: "v0.3.0",
  // The module's example/prometheus-operator-crd holds the CRDs it installs.
  prometheusOperator: "v0.88.0",
  // The io.strimzi:api test-jar carries the generated CRDs under crds/v1 (the
  // core.strimzi.io/v1 and kafka.strimzi.io/v1 APIs that Strimzi 1.x serves).
  strimzi: "0.51.0",
  // Strimzi 0.49's install CRDs serve both core.strimzi.io/v1 and v1beta2: what a
  // cluster running Strimzi 0.49-0.51 has, for claims that ask for v1beta2.
  strimziLegacy: "0.49.0",
} as const;

export interface ExternalCrds {
  crossplane: string[];
  mcs: string[];
  /** PodMonitor, PrometheusRule and ServiceMonitor (monitoring.coreos.com/v1). */
  monitoring: string[];
  strimzi: string[];
  strimziLegacy: string[];
}

async function goModuleDir(module: string, version: string): Promise<string> {
  // A throwaway module so `go mod download` needs no go.mod of ours.
  const work = cacheDir("gomod-download");
  if (!existsSync(join(work, "go.mod"))) {
    writeFileSync(join(work, "go.mod"), "module stretchkafka.dev/download\n\ngo 1.24\n");
  }
  const { stdout } = await run("go", ["mod", "download", "-json", `${module}@${version}`], {
    cwd: work,
  });
  const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`cannot download Go module ${module}@${version}: ${info.Error}`);
  return info.Dir;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => join(dir, f));
}

async function strimziCrdDir(
  version: string,
  subdir: string,
  log: (msg: string) => void,
): Promise<string> {
  const out = cacheDir("strimzi", version);
  const marker = join(out, `.complete-${subdir}`);
  if (existsSync(marker)) return join(out, "crds", subdir);
  log(`strimzi: fetching io.strimzi:api:${version}:tests from Maven Central`);
  await run("mvn", [
    "-q",
    "-B",
    "dependency:copy",
    `-Dartifact=io.strimzi:api:${version}:jar:tests`,
    `-DoutputDirectory=${out}`,
    "-Dmdep.stripVersion=true",
  ]);
  // `jar` ships with the JDK, which the machine has for Kafka anyway.
  await run("jar", ["xf", join(out, "api-tests.jar"), `crds/${subdir}`], { cwd: out });
  writeFileSync(marker, "");
  return join(out, "crds", subdir);
}

/** Paths of the external CRD files, fetching them into the cache when needed. */
export async function externalCrds(log: (msg: string) => void = () => {}): Promise<ExternalCrds> {
  const crossplane = join(
    await goModuleDir("github.com/crossplane/crossplane/v2", crossplaneVersion()),
    "cluster",
    "crds",
  );
  const mcs = join(await goModuleDir("sigs.k8s.io/mcs-api", versions.mcs), "config", "crd");
  const monitoring = join(
    await goModuleDir(
      "github.com/prometheus-operator/prometheus-operator",
      versions.prometheusOperator,
    ),
    "example",
    "prometheus-operator-crd",
  );
  const strimzi = await strimziCrdDir(versions.strimzi, "v1", log);
  const strimziLegacy = await strimziCrdDir(versions.strimziLegacy, "v1beta2", log);
  const wanted = (f: string): boolean => /strimzipodset|Crd-kafka\.yaml$/.test(f);
  return {
    crossplane: yamlFiles(crossplane),
    mcs: yamlFiles(mcs),
    monitoring: yamlFiles(monitoring).filter((f) =>
      /_(podmonitors|prometheusrules|servicemonitors)\.yaml$/.test(f),
    ),
    strimzi: yamlFiles(strimzi).filter(wanted),
    strimziLegacy: yamlFiles(strimziLegacy).filter(wanted),
  };
}

/** Parses every document of a YAML file. */
export function readYamlDocuments(path: string): unknown[] {
  return parseAllDocuments(readFileSync(path, "utf8"))
    .map((d) => d.toJS() as unknown)
    .filter((d) => d !== null);
}
