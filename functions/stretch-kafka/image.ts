/** Which Strimzi Kafka image runs a Kafka version (the image contract of Strimzi 0.49+). */
const strimziReleaseFor: [RegExp, string][] = [
  // Strimzi 1.2 ships Kafka 4.2 and 4.3; 1.1 ships 4.1 and 4.2.
  [/^4\.(2|3)\./, "1.2.0"],
  [/^4\.1\./, "1.1.0"],
];

export function kafkaImage(version: string, override?: string): string | undefined {
  if (override) return override;
  const release = strimziReleaseFor.find(([re]) => re.test(version))?.[1];
  return release ? `quay.io/strimzi/kafka:${release}-kafka-${version}` : undefined;
}

/** The metadata.version a new cluster is formatted with: the release's major.minor. */
export function metadataVersion(version: string): string {
  return version.split(".").slice(0, 2).join(".");
}
