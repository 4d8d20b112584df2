/** Names of remote objects (Strimzi's conventions) and labels on everything we make. */
import { createHash } from "node:crypto";

export { annotations, labels, objectName, shortHash } from "../../apis/labels.ts";

export function headlessService(kafka: string): string {
  return `${kafka}-kafka-brokers`;
}

export function bootstrapService(kafka: string): string {
  return `${kafka}-kafka-bootstrap`;
}

export function caCertSecret(kafka: string): string {
  return `${kafka}-cluster-ca-cert`;
}

export function clientsCaCertSecret(kafka: string): string {
  return `${kafka}-clients-ca-cert`;
}

/** ServiceAccount (and Role) the Kafka pods run as, Strimzi's name. */
export function kafkaServiceAccount(kafka: string): string {
  return `${kafka}-kafka`;
}

export function anchorName(kafka: string): string {
  return `${kafka}-stretch-anchor`;
}

/** A 22-character Kafka id (base64url of 16 bytes), derived from a seed. */
export function kafkaUuid(seed: string): string {
  return createHash("sha256").update(seed).digest().subarray(0, 16).toString("base64url");
}

/**
 * A Kafka cluster id derived from a seed, never starting with "-" (as Kafka's
 * own Uuid.randomUuid() never does): `kafka-storage format --cluster-id -x...`
 * reads such an id as an option and refuses to format, so one composite in
 * 64 could never start. A seed whose first id is fine keeps it.
 */
export function kafkaClusterId(seed: string): string {
  let id = kafkaUuid(seed);
  for (let n = 1; id.startsWith("-"); n++) id = kafkaUuid(`${seed}#${String(n)}`);
  return id;
}
