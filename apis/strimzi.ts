/** What of Strimzi's API both sides rely on. */

/** The Kafka CR's API version that goes with a StrimziPodSet API version (Strimzi 1.x: v1; 0.4x: v1beta2). */
export function kafkaApiVersion(podSetApiVersion: string): string {
  return podSetApiVersion === "core.strimzi.io/v1beta2"
    ? "kafka.strimzi.io/v1beta2"
    : "kafka.strimzi.io/v1";
}
