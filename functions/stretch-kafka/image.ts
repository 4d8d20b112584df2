/**
 * Kafka versions stretch-kafka knows: which Strimzi Kafka image runs each
 * (the image contract of Strimzi 0.49+), and the KRaft metadata.version
 * levels, from Kafka's MetadataVersion (the feature level each release
 * finalizes by default is its latest production one). A Kafka release adds a
 * row here, as it does in Strimzi's kafka-versions.yaml.
 */
import { schemaDefault } from "../../apis/index.ts";

/** The version a claim gets when it names none (Strimzi 1.2's latest), as the schema defaults it. */
export const defaultKafkaVersion = String(schemaDefault("XStretchKafka", "spec.kafka.version"));

const strimziReleaseFor: [RegExp, string][] = [
  // Strimzi 1.2 ships Kafka 4.2 and 4.3; 1.1 ships 4.1 and 4.2.
  [/^4\.(2|3)\./, "1.2.0"],
  [/^4\.1\./, "1.1.0"],
];

/** metadata.version names and feature levels (Kafka's MetadataVersion). */
const metadataLevels: Record<string, number> = {
  "4.0-IV3": 25,
  "4.1-IV0": 26,
  "4.1-IV1": 27,
  "4.2-IV0": 28,
  "4.2-IV1": 29,
  "4.3-IV0": 30,
};

/** The latest production metadata.version of each release line. */
const latestMetadata: Record<string, string> = {
  "4.1": "4.1-IV1",
  "4.2": "4.2-IV1",
  "4.3": "4.3-IV0",
};

export function kafkaImage(version: string, override?: string): string | undefined {
  if (override) return override;
  const release = strimziReleaseFor.find(([re]) => re.test(version))?.[1];
  return release ? `quay.io/strimzi/kafka:${release}-kafka-${version}` : undefined;
}

/** A release line ("4.3") from a version ("4.3.1") or metadata version ("4.3-IV0"). */
export function releaseLine(version: string): string {
  return version.split(/[.-]/).slice(0, 2).join(".");
}

/** The metadata.version a new cluster is formatted with: the release's major.minor. */
export function metadataVersion(version: string): string {
  return releaseLine(version);
}

export interface MetadataVersion {
  name: string;
  level: number;
}

/**
 * A metadata.version by name: "4.2-IV1" as it is, "4.2" as that line's latest
 * production one. Undefined when unknown.
 */
export function metadataVersionNamed(name: string): MetadataVersion | undefined {
  const full = /-IV\d+$/.test(name) ? name : latestMetadata[name];
  const level = full ? metadataLevels[full] : undefined;
  return full && level !== undefined ? { name: full, level } : undefined;
}

/** The newest metadata.version a Kafka version runs. */
export function newestMetadataFor(version: string): MetadataVersion | undefined {
  return metadataVersionNamed(releaseLine(version));
}

/** The name of a finalized metadata.version level, or the level itself when unknown. */
export function metadataVersionName(level: number): string {
  return Object.entries(metadataLevels).find(([, l]) => l === level)?.[0] ?? `level ${level}`;
}
