/**
 * A KafkaUser's access in Kafka's terms (pure): its principal, its ACL rules
 * expanded to Kafka's ACL bindings (one per operation) and the difference to
 * what Kafka holds, so the provider makes them exactly equal; and the
 * SCRAM-SHA-512 credential derived from a password (RFC 5802: Kafka stores
 * the salted password, never the password).
 */
import { createHash, pbkdf2Sync, randomBytes } from "node:crypto";
import type { AclRule } from "../../apis/index.ts";
import type { AclBinding } from "./admin.ts";

/** The user's name in Kafka: CN=<name> for a certificate (as Strimzi names it), <name> for SCRAM. */
export function username(name: string, authentication: "tls" | "scram-sha-512"): string {
  return authentication === "tls" ? `CN=${name}` : name;
}

const resourceTypes = {
  topic: "TOPIC",
  group: "GROUP",
  cluster: "CLUSTER",
  transactionalId: "TRANSACTIONAL_ID",
} as const;

const operations = {
  All: "ALL",
  Read: "READ",
  Write: "WRITE",
  Create: "CREATE",
  Delete: "DELETE",
  Alter: "ALTER",
  Describe: "DESCRIBE",
  ClusterAction: "CLUSTER_ACTION",
  DescribeConfigs: "DESCRIBE_CONFIGS",
  AlterConfigs: "ALTER_CONFIGS",
  IdempotentWrite: "IDEMPOTENT_WRITE",
} as const;

/** The bindings the rules ask for, one per operation, without duplicates. */
export function wantedAcls(principal: string, rules: AclRule[]): AclBinding[] {
  const out = new Map<string, AclBinding>();
  for (const r of rules) {
    for (const op of r.operations) {
      const b: AclBinding = {
        resourceType: resourceTypes[r.resource.type],
        // Kafka's only name for the cluster resource.
        resourceName: r.resource.type === "cluster" ? "kafka-cluster" : (r.resource.name ?? ""),
        patternType: r.resource.patternType === "prefix" ? "PREFIXED" : "LITERAL",
        principal,
        host: r.host ?? "*",
        operation: operations[op],
        permission: r.type === "deny" ? "DENY" : "ALLOW",
      };
      out.set(aclKey(b), b);
    }
  }
  return [...out.values()];
}

export function aclKey(b: AclBinding): string {
  return [
    b.resourceType,
    b.patternType,
    b.resourceName,
    b.principal,
    b.host,
    b.operation,
    b.permission,
  ].join("|");
}

/** What to create and what to delete for Kafka to hold exactly `wanted`. */
export function aclChanges(
  wanted: AclBinding[],
  current: AclBinding[],
): { create: AclBinding[]; remove: AclBinding[] } {
  const have = new Set(current.map(aclKey));
  const want = new Set(wanted.map(aclKey));
  return {
    create: wanted.filter((b) => !have.has(aclKey(b))),
    remove: current.filter((b) => !want.has(aclKey(b))),
  };
}

/** Iterations of the SCRAM-SHA-512 credentials the provider sets (Kafka's minimum is 4096). */
export const scramIterations = 4096;

/** A SCRAM-SHA-512 credential for `password` with a fresh salt. */
export function scramCredential(password: string): {
  salt: Buffer;
  iterations: number;
  saltedPassword: Buffer;
} {
  const salt = randomBytes(32);
  return {
    salt,
    iterations: scramIterations,
    saltedPassword: pbkdf2Sync(password, salt, scramIterations, 64, "sha512"),
  };
}

/** A stable digest of what was last told to Kafka, to tell it again only on a change. */
export function digest(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex");
}
