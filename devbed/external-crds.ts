/**
 * CRDs of the projects we integrate with, fetched at test time from their
 * published artifacts (never committed): Crossplane, MCS and the Prometheus
 * Operator from their Go modules; Strimzi 1.2's generated from its api model
 * by its own crd-generator, and Strimzi 0.49's from its api test-jar (both on
 * Maven Central).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { crossplaneVersion } from "./build.ts";
import { cacheDir } from "./cache.ts";
import { run } from "./run.ts";

export const versions = {
  mcs: "v0.3.0",
  // The module's example/prometheus-operator-crd holds the CRDs it installs.
  prometheusOperator: "v0.88.0",
  // The release the project supports. Its CRDs are not published as YAML on
  // Maven Central, so they are generated here as Strimzi's own build does:
  // io.strimzi:crd-generator run over the io.strimzi:api model classes.
  strimzi: "1.2.0",
  // Strimzi 0.49's install CRDs serve both core.strimzi.io/v1 and v1beta2: what a
  // cluster running Strimzi 0.49-0.51 has, for claims that ask for v1beta2. Its
  // api test-jar carries them under crds/v1beta2.
  strimziLegacy: "0.49.0",
} as const;

/**
 * Every CRD a Strimzi 1.x install has, by model class and file name, as the
 * api module's build generates them (packaging/install/cluster-operator).
 */
const strimziModels: [string, string][] = [
  ["kafka.Kafka", "040-Crd-kafka.yaml"],
  ["connect.KafkaConnect", "041-Crd-kafkaconnect.yaml"],
  ["podset.StrimziPodSet", "042-Crd-strimzipodset.yaml"],
  ["topic.KafkaTopic", "043-Crd-kafkatopic.yaml"],
  ["user.KafkaUser", "044-Crd-kafkauser.yaml"],
  ["nodepool.KafkaNodePool", "045-Crd-kafkanodepool.yaml"],
  ["bridge.KafkaBridge", "046-Crd-kafkabridge.yaml"],
  ["connector.KafkaConnector", "047-Crd-kafkaconnector.yaml"],
  ["mirrormaker2.KafkaMirrorMaker2", "048-Crd-kafkamirrormaker2.yaml"],
  ["rebalance.KafkaRebalance", "049-Crd-kafkarebalance.yaml"],
];

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

/** The major version of the JDK in `home`, from its release file. */
function jdkMajor(home: string): number | undefined {
  try {
    const m = /JAVA_VERSION="(\d+)/.exec(readFileSync(join(home, "release"), "utf8"));
    return m?.[1] ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A `java` of at least `major`: Strimzi 1.2's crd-generator is built for Java
 * 21 (class file 65), while Kafka here runs on the default Java 17.
 */
export function javaAtLeast(major: number): string {
  const jvms = existsSync("/usr/lib/jvm")
    ? readdirSync("/usr/lib/jvm").map((d) => join("/usr/lib/jvm", d))
    : [];
  const homes = [process.env["STRIMZI_JAVA_HOME"], process.env["JAVA_HOME"], ...jvms].filter(
    (h): h is string => !!h,
  );
  const home = homes.find((h) => (jdkMajor(h) ?? 0) >= major);
  if (!home)
    throw new Error(
      `Strimzi's crd-generator needs Java ${String(major)} or newer; none found in ${homes.join(", ") || "/usr/lib/jvm"}: install one and set STRIMZI_JAVA_HOME to it`,
    );
  return join(home, "bin", "java");
}

/** Strimzi 1.x's CRDs, generated from its API model with its own generator. */
async function strimziGeneratedCrds(version: string, log: (msg: string) => void): Promise<string> {
  const work = cacheDir("strimzi", version);
  const out = join(work, "crds");
  const marker = join(work, ".complete-generated");
  if (existsSync(marker)) return out;
  log(`strimzi: generating the ${version} CRDs with io.strimzi:crd-generator:${version}`);
  writeFileSync(
    join(work, "pom.xml"),
    `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.stretchkafka.devbed</groupId>
  <artifactId>strimzi-crds</artifactId>
  <version>${version}</version>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>${version}</version></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId><version>${version}</version></dependency>
  </dependencies>
</project>
`,
  );
  const classpath = join(work, "classpath.txt");
  await run("mvn", ["-q", "-B", "dependency:build-classpath", `-Dmdep.outputFile=${classpath}`], {
    cwd: work,
  });
  mkdirSync(out, { recursive: true });
  // The arguments of the api module's own generate-crds execution (its pom).
  await run(javaAtLeast(21), [
    "-cp",
    readFileSync(classpath, "utf8").trim(),
    "io.strimzi.crdgenerator.CrdGenerator",
    ...["--label", "app:strimzi", "--label", "strimzi.io/crd-install:true"],
    ...["--target-kube", "1.16+", "--crd-api-version", "v1"],
    ...["--api-versions", "v1", "--storage-version", "v1", "--yaml"],
    ...strimziModels.map(
      ([model, file]) => `io.strimzi.api.kafka.model.${model}=${join(out, file)}`,
    ),
  ]);
  const missing = strimziModels.filter(([, file]) => !existsSync(join(out, file)));
  if (missing.length > 0)
    throw new Error(`Strimzi's crd-generator wrote no ${missing.map(([, f]) => f).join(", ")}`);
  writeFileSync(marker, "");
  return out;
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
  const strimzi = await strimziGeneratedCrds(versions.strimzi, log);
  const strimziLegacy = await strimziCrdDir(versions.strimziLegacy, "v1beta2", log);
  const wanted = (f: string): boolean => /strimzipodset|Crd-kafka\.yaml$/.test(f);
  return {
    crossplane: yamlFiles(crossplane),
    mcs: yamlFiles(mcs),
    monitoring: yamlFiles(monitoring).filter((f) =>
      /_(podmonitors|prometheusrules|servicemonitors)\.yaml$/.test(f),
    ),
    strimzi: yamlFiles(strimzi),
    strimziLegacy: yamlFiles(strimziLegacy).filter(wanted),
  };
}

/** Parses every document of a YAML file. */
export function readYamlDocuments(path: string): unknown[] {
  return parseAllDocuments(readFileSync(path, "utf8"))
    .map((d) => d.toJS() as unknown)
    .filter((d) => d !== null);
}
