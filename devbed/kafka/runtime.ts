/**
 * What the development bed's Kafka runs, fetched or built at test time and cached:
 * Apache Kafka's jars (broker, tools, a log4j2 binding) from Maven Central
 * with Maven, and toxiproxy's server from Go modules. Nothing of either is
 * committed.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { goBinary, type BuildReport } from "../build.ts";
import { cacheDir } from "../cache.ts";
import { run } from "../run.ts";

const toxiproxySrc = fileURLToPath(new URL("./toxiproxy/", import.meta.url));
const log4jVersion = "2.24.3";
/** Kafka's jars name slf4j-api 1.7, for which log4j's slf4j2 binding is invisible: Kafka would log nothing. */
const slf4jVersion = "2.0.17";

/** toxiproxy's server, built from the module pinned in devbed/kafka/toxiproxy. */
export async function toxiproxyBinary(log: (msg: string) => void = () => {}): Promise<BuildReport> {
  return goBinary("toxiproxy", toxiproxySrc, "github.com/Shopify/toxiproxy/v2/cmd/server", log);
}

function pom(version: string): string {
  const dep = (g: string, a: string, v: string): string =>
    `<dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`;
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.stretchkafka.test</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>${version}</version>
  <packaging>pom</packaging>
  <dependencies>
    ${dep("org.apache.kafka", "kafka_2.13", version)}
    ${dep("org.apache.kafka", "kafka-tools", version)}
    ${dep("org.slf4j", "slf4j-api", slf4jVersion)}
    ${dep("org.apache.logging.log4j", "log4j-slf4j2-impl", log4jVersion)}
    ${dep("org.apache.logging.log4j", "log4j-core", log4jVersion)}
  </dependencies>
</project>
`;
}

/** A JVM running one of Kafka's client tools inside a simulated cluster (its name resolution). */
export function kafkaClientArgs(hostsFile: string, classpath: string): string[] {
  return [
    "-Xms256m",
    "-Xmx256m",
    "-XX:TieredStopAtLevel=1",
    `-Djdk.net.hosts.file=${hostsFile}`,
    "-Dlog4j2.level=WARN",
    "-cp",
    classpath,
  ];
}

/**
 * The directory of every jar Kafka `version` needs, resolved by Maven from
 * Maven Central on first use. Returns the classpath (`<dir>/*`).
 */
export async function kafkaClasspath(
  version: string,
  log: (msg: string) => void = () => {},
): Promise<string> {
  if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`not a Kafka release: ${version}`);
  const home = cacheDir("kafka", version);
  // Keyed by the POM, so a changed dependency list fetches again.
  const lib = join(
    home,
    `lib-${createHash("sha256").update(pom(version)).digest("hex").slice(0, 12)}`,
  );
  if (existsSync(lib) && readdirSync(lib).some((f) => f.startsWith("kafka_2.13-"))) {
    return `${lib}/*`;
  }
  log(`kafka ${version}: fetching jars from Maven Central`);
  const started = Date.now();
  writeFileSync(join(home, "pom.xml"), pom(version));
  const tmp = `${lib}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await run(
    "mvn",
    [
      "-q",
      "-B",
      "dependency:copy-dependencies",
      `-DoutputDirectory=${tmp}`,
      "-DincludeScope=runtime",
    ],
    { cwd: home },
  );
  rmSync(lib, { recursive: true, force: true });
  renameSync(tmp, lib);
  log(
    `kafka ${version}: ${readdirSync(lib).length} jars in ${((Date.now() - started) / 1000).toFixed(0)}s`,
  );
  return `${lib}/*`;
}

/** The JMX exporter agent the Strimzi Kafka image carries under $JMX_EXPORTER_HOME. */
export const jmxExporterVersion = "1.0.1";

/** The agent's jar, from Maven Central on first use. */
export async function jmxExporterJar(): Promise<string> {
  const dir = cacheDir("jmx-exporter", jmxExporterVersion);
  const jar = join(dir, `jmx_prometheus_javaagent-${jmxExporterVersion}.jar`);
  if (existsSync(jar)) return jar;
  await run("mvn", [
    "-q",
    "-B",
    "dependency:copy",
    `-Dartifact=io.prometheus.jmx:jmx_prometheus_javaagent:${jmxExporterVersion}`,
    `-DoutputDirectory=${dir}`,
  ]);
  if (!existsSync(jar)) throw new Error(`Maven left no ${jar}`);
  return jar;
}
