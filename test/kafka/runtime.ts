/**
 * What the Kafka harness runs, fetched or built at test time and cached:
 * Apache Kafka's jars (broker, tools, a log4j2 binding) from Maven Central
 * with Maven, and toxiproxy's server from Go modules. Nothing of either is
 * committed.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { goBinary, type BuildReport } from "../../devbed/build.ts";
import { cacheDir } from "../../devbed/cache.ts";
import { run } from "../../devbed/run.ts";

const toxiproxySrc = fileURLToPath(new URL("./toxiproxy/", import.meta.url));
const log4jVersion = "2.24.3";

/** toxiproxy's server, built from the module pinned in test/kafka/toxiproxy. */
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
    ${dep("org.apache.logging.log4j", "log4j-slf4j2-impl", log4jVersion)}
    ${dep("org.apache.logging.log4j", "log4j-core", log4jVersion)}
  </dependencies>
</project>
`;
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
  const lib = join(home, "lib");
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
