/**
 * The admin channel: what the provider asks and tells one Kafka cluster, over
 * one connection to one broker's replication listener, authenticated with a
 * certificate of the cluster CA (as Strimzi's cluster operator is). Every
 * request here is answered by any broker (those that change the cluster are
 * forwarded to the active controller by Kafka itself).
 *
 * Asked each round: ApiVersions (finalized features), DescribeCluster v2
 * (every registered broker, fenced or not), DescribeQuorum (the KRaft quorum),
 * Metadata (every topic's partitions), DescribeConfigs (each topic's
 * min.insync.replicas) and ListPartitionReassignments (moves under way).
 * Asked of every broker when a rebalance is planned: DescribeLogDirs (replica
 * sizes; each broker answers only for itself).
 * Told when asked to: AlterPartitionReassignments, IncrementalAlterConfigs
 * (replication throttles), UnregisterBroker, UpdateFeatures (metadata.version
 * after an upgrade), AddRaftVoter and RemoveRaftVoter (a dynamic quorum's voters).
 * For KafkaTopics and KafkaUsers: CreateTopics, CreatePartitions, DeleteTopics,
 * DescribeConfigs of a topic, AlterUserScramCredentials, DescribeAcls,
 * CreateAcls, DeleteAcls and AlterClientQuotas.
 *
 * Kafka client: @platformatic/kafka's protocol layer (docs/adr/0011).
 */
import type { LookupFunction } from "node:net";
import {
  AclOperations,
  AclPermissionTypes,
  alterClientQuotasV1,
  alterPartitionReassignmentsV0,
  alterUserScramCredentialsV0,
  apiVersionsV4,
  ClientQuotaEntityTypes,
  ConfigResourceTypes,
  ConfigSources,
  Connection,
  createAclsV3,
  createPartitionsV3,
  createTopicsV7,
  deleteAclsV3,
  deleteTopicsV6,
  describeAclsV3,
  describeConfigsV4,
  describeLogDirsV4,
  ResourcePatternTypes,
  ResourceTypes,
  type Acl,
  type ClientQuotaKeyValue,
  describeQuorumV2,
  FeatureUpgradeTypes,
  incrementalAlterConfigsV1,
  IncrementalAlterConfigOperationTypes,
  listPartitionReassignmentsV0,
  metadataV12,
  unregisterBrokerV0,
  updateFeaturesV1,
} from "@platformatic/kafka";
import {
  addRaftVoterV0,
  describeClusterV2,
  electLeadersV2,
  removeRaftVoterV0,
  type VoterListener,
} from "./protocol.ts";

export interface AdminTls {
  /** The cluster CA bundle the brokers' certificates chain to. */
  ca: string;
  cert: string;
  key: string;
}

export interface AskOptions {
  servers: string[];
  tls: AdminTls;
  /** Name resolution for the brokers' addresses (default: the system's). */
  lookup?: LookupFunction | undefined;
  timeoutMs: number;
}

export interface QuorumReplica {
  id: number;
  /** The replica's metadata log directory id (a voter is this id and directory). */
  directoryId: string;
  logEndOffset: bigint;
  lastFetchTimestamp: bigint;
  lastCaughtUpTimestamp: bigint;
}

/** Kafka's answers, as they came. */
export interface KafkaView {
  via: string;
  clusterId: string;
  features: Record<string, number>;
  /** Every registered broker, with its rack, whether the controller has fenced it, and its address on this listener. */
  brokers: { id: number; rack: string | null; fenced: boolean; address?: string }[];
  quorum: {
    leaderId: number;
    leaderEpoch: number;
    highWatermark: bigint;
    voters: QuorumReplica[];
    observers: QuorumReplica[];
  };
  topics: {
    name: string;
    /** Kafka's id of the topic (base64). */
    id: string;
    internal: boolean;
    /**
     * min.insync.replicas as Kafka answered: set on the topic (`override`) or
     * inherited from the brokers; undefined when Kafka did not answer for the
     * topic (controller/kafka/health.ts treats that as unsafe).
     */
    minIsr: { value: number; override: boolean } | undefined;
    /** Whether a replication throttle is set on the topic. */
    throttled: boolean;
    partitions: {
      id: number;
      leader: number;
      replicas: number[];
      isr: number[];
      offline: number[];
    }[];
  }[];
  /** Partition reassignments under way. */
  reassigning: { topic: string; partition: number; adding: number[]; removing: number[] }[];
}

/** A partition's new replica list (the first is the preferred leader). */
export interface PartitionMove {
  topic: string;
  partition: number;
  replicas: number[];
}

/** A broker or topic configuration change; value undefined deletes the key. */
export interface ConfigChange {
  resource: "broker" | "topic";
  name: string;
  configs: Record<string, string | undefined>;
  /** Append to list values instead of replacing them. */
  append?: boolean;
}

function hostPort(server: string): { host: string; port: number } {
  const i = server.lastIndexOf(":");
  return { host: server.slice(0, i), port: Number(server.slice(i + 1)) };
}

async function connect(o: AskOptions): Promise<{ connection: Connection; via: string }> {
  const failures: string[] = [];
  for (const server of o.servers) {
    const { host, port } = hostPort(server);
    const connection = new Connection("stretch-kafka-provider", {
      connectTimeout: o.timeoutMs,
      requestTimeout: o.timeoutMs,
      tlsServerName: true,
      tls: {
        ca: o.tls.ca,
        cert: o.tls.cert,
        key: o.tls.key,
        ...(o.lookup ? { lookup: o.lookup } : {}),
      },
    });
    try {
      await connection.connect(host, port);
      return { connection, via: server };
    } catch (err) {
      failures.push(`${server}: ${(err as Error).message}`);
      await connection.close().catch(() => {});
    }
  }
  throw new Error(`no broker answered: ${failures.join("; ")}`);
}

/**
 * What Kafka said, from the client's error: each failed part with Kafka's
 * error name and its own message (the client's top-line message names
 * neither).
 */
export function kafkaReason(err: unknown): string {
  const e = err as {
    message?: string;
    errors?: {
      message?: string;
      apiId?: string;
      serverErrorMessage?: string | null;
      path?: string;
    }[];
  };
  const parts = (e.errors ?? []).map(
    (x) =>
      `${x.path && x.path !== "/" ? `${x.path}: ` : ""}${x.apiId ?? ""}${x.serverErrorMessage ? ` (${x.serverErrorMessage})` : x.message ? ` (${x.message})` : ""}`,
  );
  return parts.length > 0 ? `${e.message ?? ""}: ${parts.join("; ")}` : (e.message ?? String(err));
}

function check(what: string, errorCode: number, message?: string | null): void {
  if (errorCode !== 0)
    throw new Error(`${what} failed with Kafka error ${errorCode}${message ? `: ${message}` : ""}`);
}

/** One connection to one Kafka cluster for one round: a view, then what must be told. */
export class AdminSession {
  private constructor(
    private readonly connection: Connection,
    readonly via: string,
    private readonly o: AskOptions,
  ) {}

  private get timeoutMs(): number {
    return this.o.timeoutMs;
  }

  static async open(o: AskOptions): Promise<AdminSession> {
    const { connection, via } = await connect(o);
    return new AdminSession(connection, via, o);
  }

  /**
   * Each partition's size in bytes (`topic/partition`: its largest replica,
   * so one still catching up does not count low), from DescribeLogDirs. Kafka
   * answers it only for the broker asked, so every unfenced broker is asked
   * over a connection of its own, at once; a broker that does not answer
   * leaves the sizes of partitions it alone would report unknown, and the
   * count of those that did not answer is returned.
   */
  async replicaSizes(view: KafkaView): Promise<{ sizes: Map<string, number>; unanswered: number }> {
    const sizes = new Map<string, number>();
    const answers = await Promise.all(
      view.brokers
        .filter((b) => !b.fenced && b.address)
        .map(async (b) => {
          let connection: Connection | undefined;
          try {
            ({ connection } = await connect({ ...this.o, servers: [b.address ?? ""] }));
            const answer = await describeLogDirsV4.api.async(connection, null);
            check("DescribeLogDirs", answer.errorCode);
            return answer.results.filter((r) => r.errorCode === 0);
          } catch {
            return undefined;
          } finally {
            await connection?.close().catch(() => {});
          }
        }),
    );
    for (const dir of answers.flatMap((a) => a ?? [])) {
      for (const t of dir.topics) {
        for (const p of t.partitions) {
          if (p.isFutureKey) continue;
          const key = `${t.name}/${p.partitionIndex}`;
          sizes.set(key, Math.max(sizes.get(key) ?? 0, Number(p.partitionSize)));
        }
      }
    }
    return { sizes, unanswered: answers.filter((a) => a === undefined).length };
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => {});
  }

  /** Topics, credentials, ACLs and quotas, on this session's connection. */
  get access(): AccessAdmin {
    return new AccessAdmin(this.connection, this.timeoutMs);
  }

  /** Everything the live status needs. */
  async view(): Promise<KafkaView> {
    const connection = this.connection;
    const via = this.via;
    const versions = await apiVersionsV4.api.async(connection, "stretch-kafka", "0");
    const cluster = await describeClusterV2.async(connection, true);
    const quorum = await describeQuorumV2.api.async(connection, [
      { topicName: "__cluster_metadata", partitions: [{ partitionIndex: 0 }] },
    ]);
    check("DescribeQuorum", quorum.errorCode, quorum.errorMessage);
    const part = quorum.topics[0]?.partitions[0];
    if (!part) throw new Error("DescribeQuorum answered without the metadata partition");
    check("DescribeQuorum", part.errorCode, part.errorMessage);
    // Moves under way first: one that finishes meanwhile then shows as done in
    // the metadata, not as an interim replica set nobody lists as moving.
    const moving = await listPartitionReassignmentsV0.api.async(connection, this.timeoutMs, null);
    check("ListPartitionReassignments", moving.errorCode, moving.errorMessage);
    const metadata = await metadataV12.api.async(connection, null, false, false);
    const names = metadata.topics.flatMap((t) => (t.name ? [t.name] : []));
    const minIsr = new Map<string, { value: number; override: boolean }>();
    const throttled = new Set<string>();
    if (names.length > 0) {
      const configs = await describeConfigsV4.api.async(
        connection,
        names.map((n) => ({
          resourceType: ConfigResourceTypes.TOPIC,
          resourceName: n,
          configurationKeys: [
            "min.insync.replicas",
            "leader.replication.throttled.replicas",
            "follower.replication.throttled.replicas",
          ],
        })),
        false,
        false,
      );
      for (const r of configs.results) {
        if (r.errorCode !== 0) continue;
        const m = r.configs.find((c) => c.name === "min.insync.replicas");
        const value = Number(m?.value ?? NaN);
        if (m && Number.isInteger(value))
          minIsr.set(r.resourceName, {
            value,
            override: m.configSource === ConfigSources.DYNAMIC_TOPIC_CONFIG,
          });
        if (r.configs.some((c) => c.name.endsWith(".replication.throttled.replicas") && c.value))
          throttled.add(r.resourceName);
      }
    }
    const replica = (v: {
      replicaId: number;
      replicaDirectoryId: string;
      logEndOffset: bigint;
      lastFetchTimestamp: bigint;
      lastCaughtUpTimestamp: bigint;
    }): QuorumReplica => ({
      id: v.replicaId,
      directoryId: v.replicaDirectoryId,
      logEndOffset: v.logEndOffset,
      lastFetchTimestamp: v.lastFetchTimestamp,
      lastCaughtUpTimestamp: v.lastCaughtUpTimestamp,
    });
    return {
      via,
      clusterId: cluster.clusterId,
      features: Object.fromEntries(
        (versions.finalizedFeatures ?? []).map((f) => [f.name, f.maxVersionLevel]),
      ),
      brokers: cluster.brokers.map((b) => ({
        id: b.brokerId,
        rack: b.rack ?? null,
        fenced: b.isFenced,
        address: `${b.host}:${String(b.port)}`,
      })),
      quorum: {
        leaderId: part.leaderId,
        leaderEpoch: part.leaderEpoch,
        highWatermark: part.highWatermark,
        voters: part.currentVoters.map(replica),
        observers: part.observers.map(replica),
      },
      topics: metadata.topics
        .filter((t) => t.name && t.errorCode === 0)
        .map((t) => ({
          name: t.name ?? "",
          id: t.topicId,
          internal: t.isInternal,
          minIsr: minIsr.get(t.name ?? ""),
          throttled: throttled.has(t.name ?? ""),
          partitions: t.partitions.map((p) => ({
            id: p.partitionIndex,
            leader: p.leaderId,
            replicas: p.replicaNodes,
            isr: p.isrNodes,
            offline: p.offlineReplicas,
          })),
        })),
      reassigning: moving.topics.flatMap((t) =>
        t.partitions.map((p) => ({
          topic: t.name,
          partition: p.partitionIndex,
          adding: p.addingReplicas,
          removing: p.removingReplicas,
        })),
      ),
    };
  }

  /** Starts partition reassignments; names every partition Kafka refused, with why. */
  async reassign(moves: PartitionMove[]): Promise<void> {
    if (moves.length === 0) return;
    const byTopic = new Map<string, PartitionMove[]>();
    for (const m of moves) byTopic.set(m.topic, [...(byTopic.get(m.topic) ?? []), m]);
    const answer = await alterPartitionReassignmentsV0.api.async(
      this.connection,
      this.timeoutMs,
      false,
      [...byTopic].map(([name, ms]) => ({
        name,
        partitions: ms.map((m) => ({ partitionIndex: m.partition, replicas: m.replicas })),
      })),
    );
    check("AlterPartitionReassignments", answer.errorCode, answer.errorMessage);
    const refused = answer.responses.flatMap((t) =>
      t.partitions
        .filter((p) => p.errorCode !== 0)
        .map((p) => `${t.name}-${p.partitionIndex}: error ${p.errorCode} ${p.errorMessage ?? ""}`),
    );
    if (refused.length > 0) throw new Error(`Kafka refused reassigning ${refused.join("; ")}`);
  }

  /** Sets (or, for undefined values, deletes) broker and topic configuration keys. */
  async alterConfigs(changes: ConfigChange[]): Promise<void> {
    if (changes.length === 0) return;
    const answer = await incrementalAlterConfigsV1.api.async(
      this.connection,
      changes.map((c) => ({
        resourceType:
          c.resource === "broker" ? ConfigResourceTypes.BROKER : ConfigResourceTypes.TOPIC,
        resourceName: c.name,
        configs: Object.entries(c.configs).map(([name, value]) =>
          value === undefined
            ? { name, configOperation: IncrementalAlterConfigOperationTypes.DELETE }
            : {
                name,
                configOperation: c.append
                  ? IncrementalAlterConfigOperationTypes.APPEND
                  : IncrementalAlterConfigOperationTypes.SET,
                value,
              },
        ),
      })),
      false,
    );
    for (const r of answer.responses)
      check(`IncrementalAlterConfigs of ${r.resourceName}`, r.errorCode, r.errorMessage);
  }

  /** Raises a finalized feature (metadata.version) to `level`; Kafka checks every node supports it. */
  async upgradeFeature(feature: string, level: number): Promise<void> {
    const answer = await updateFeaturesV1.api.async(
      this.connection,
      this.timeoutMs,
      [{ feature, maxVersionLevel: level, upgradeType: FeatureUpgradeTypes.UPGRADE }],
      false,
    );
    check("UpdateFeatures", answer.errorCode, answer.errorMessage);
    for (const r of answer.results)
      check(`UpdateFeatures of ${r.feature}`, r.errorCode, r.errorMessage);
  }

  /**
   * Preferred leader election for these partitions. Partitions already led by
   * their preferred replica (ELECTION_NOT_NEEDED) are fine; others that fail
   * are named.
   */
  async electPreferred(partitions: { topic: string; partition: number }[]): Promise<void> {
    if (partitions.length === 0) return;
    const byTopic = new Map<string, number[]>();
    for (const p of partitions)
      byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p.partition]);
    const answer = await electLeadersV2.async(
      this.connection,
      0,
      [...byTopic].map(([topic, ps]) => ({ topic, partitions: ps })),
      this.timeoutMs,
    );
    const failed = answer.results.filter((r) => r.errorCode !== 0 && r.errorCode !== 84);
    if (failed.length > 0)
      throw new Error(
        `Kafka refused electing ${failed.map((r) => `${r.topic}-${r.partition}: error ${r.errorCode} ${r.errorMessage ?? ""}`).join("; ")}`,
      );
  }

  /** Makes a caught-up observer controller a voter (KIP-853; Kafka allows one change at a time). */
  async addVoter(
    clusterId: string,
    id: number,
    directoryId: string,
    listener: VoterListener,
  ): Promise<void> {
    await addRaftVoterV0.async(this.connection, clusterId, this.timeoutMs, id, directoryId, [
      listener,
    ]);
  }

  /** Takes a voter out of the quorum; it stays an observer while it runs. */
  async removeVoter(clusterId: string, id: number, directoryId: string): Promise<void> {
    await removeRaftVoterV0.async(this.connection, clusterId, id, directoryId);
  }

  /** Removes a stopped broker's registration, so it leaves the cluster's metadata. */
  async unregisterBroker(id: number): Promise<void> {
    await unregisterBrokerV0.api.async(this.connection, id);
  }
}

/** An ACL of one principal, in Kafka's terms (names as in Kafka's AclBinding). */
export interface AclBinding {
  resourceType: "TOPIC" | "GROUP" | "CLUSTER" | "TRANSACTIONAL_ID";
  resourceName: string;
  patternType: "LITERAL" | "PREFIXED";
  principal: string;
  host: string;
  operation: Exclude<keyof typeof AclOperations, "UNKNOWN" | "ANY">;
  permission: "ALLOW" | "DENY";
}

const label = <T extends Record<string, number>>(values: T, v: number): keyof T =>
  (Object.keys(values) as (keyof T)[]).find((k) => values[k] === v) ?? "UNKNOWN";

function toAcl(b: AclBinding): Acl {
  return {
    resourceType: ResourceTypes[b.resourceType],
    resourceName: b.resourceName,
    resourcePatternType: ResourcePatternTypes[b.patternType],
    principal: b.principal,
    host: b.host,
    operation: AclOperations[b.operation],
    permissionType: AclPermissionTypes[b.permission],
  };
}

/** Kafka's client quota keys a KafkaUser sets. */
export type QuotaKey = Extract<
  ClientQuotaKeyValue,
  "producer_byte_rate" | "consumer_byte_rate" | "request_percentage" | "controller_mutation_rate"
>;

/** Topics, credentials, ACLs and quotas: what KafkaTopics and KafkaUsers ask for. */
export class AccessAdmin {
  constructor(
    private readonly connection: Connection,
    private readonly timeoutMs: number,
  ) {}

  /** Creates a topic with these replicas per partition; returns Kafka's topic id. */
  async createTopic(
    name: string,
    assignments: number[][],
    configs: Record<string, string>,
  ): Promise<string> {
    const answer = await createTopicsV7.api.async(
      this.connection,
      [
        {
          name,
          numPartitions: -1,
          replicationFactor: -1,
          assignments: assignments.map((brokerIds, partitionIndex) => ({
            partitionIndex,
            brokerIds,
          })),
          configs: Object.entries(configs).map(([k, value]) => ({ name: k, value })),
        },
      ],
      this.timeoutMs,
      false,
    );
    const t = answer.topics[0];
    if (!t) throw new Error(`CreateTopics answered nothing for ${name}`);
    check(`CreateTopics of ${name}`, t.errorCode, t.errorMessage);
    return t.topicId;
  }

  /** Adds partitions (Kafka cannot remove any) with these replicas each. */
  async addPartitions(name: string, count: number, assignments: number[][]): Promise<void> {
    const answer = await createPartitionsV3.api.async(
      this.connection,
      [{ name, count, assignments: assignments.map((brokerIds) => ({ brokerIds })) }],
      this.timeoutMs,
      false,
    );
    for (const r of answer.results)
      check(`CreatePartitions of ${r.name}`, r.errorCode, r.errorMessage);
  }

  async deleteTopic(name: string): Promise<void> {
    const answer = await deleteTopicsV6.api.async(this.connection, [{ name }], this.timeoutMs);
    for (const r of answer.responses) {
      // UNKNOWN_TOPIC_OR_PARTITION: gone already.
      if (r.errorCode !== 3) check(`DeleteTopics of ${name}`, r.errorCode, r.errorMessage);
    }
  }

  /** A topic's own configuration (set on the topic, not inherited from the brokers). */
  async topicConfig(name: string): Promise<Record<string, string>> {
    const answer = await describeConfigsV4.api.async(
      this.connection,
      [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: name }],
      false,
      false,
    );
    const r = answer.results[0];
    if (!r) throw new Error(`DescribeConfigs answered nothing for ${name}`);
    check(`DescribeConfigs of ${name}`, r.errorCode, r.errorMessage);
    return Object.fromEntries(
      r.configs
        .filter((c) => c.configSource === ConfigSources.DYNAMIC_TOPIC_CONFIG && c.value !== null)
        .map((c) => [c.name, c.value ?? ""]),
    );
  }

  /** Sets a SCRAM-SHA-512 credential (the salted password is computed here; Kafka never sees the password). */
  async setScramSha512(
    user: string,
    salt: Buffer,
    iterations: number,
    saltedPassword: Buffer,
  ): Promise<void> {
    const answer = await alterUserScramCredentialsV0.api.async(
      this.connection,
      [],
      [{ name: user, mechanism: 2, iterations, salt, saltedPassword }],
    );
    for (const r of answer.results)
      check(`AlterUserScramCredentials of ${r.user}`, r.errorCode, r.errorMessage);
  }

  async deleteScramSha512(user: string): Promise<void> {
    const answer = await alterUserScramCredentialsV0.api.async(
      this.connection,
      [{ name: user, mechanism: 2 }],
      [],
    );
    // RESOURCE_NOT_FOUND: none was set.
    for (const r of answer.results)
      if (r.errorCode !== 91)
        check(`AlterUserScramCredentials of ${r.user}`, r.errorCode, r.errorMessage);
  }

  /** Every ACL naming this principal (e.g. User:CN=alice). */
  async acls(principal: string): Promise<AclBinding[]> {
    const answer = await describeAclsV3.api.async(this.connection, {
      resourceType: ResourceTypes.ANY,
      resourceName: null,
      resourcePatternType: ResourcePatternTypes.ANY,
      principal,
      host: null,
      operation: AclOperations.ANY,
      permissionType: AclPermissionTypes.ANY,
    });
    check("DescribeAcls", answer.errorCode, answer.errorMessage);
    return answer.resources.flatMap((r) =>
      r.acls.map((a) => ({
        resourceType: label(ResourceTypes, r.resourceType) as AclBinding["resourceType"],
        resourceName: r.resourceName,
        patternType: label(
          ResourcePatternTypes,
          r.resourcePatternType,
        ) as AclBinding["patternType"],
        principal: a.principal,
        host: a.host,
        operation: label(AclOperations, a.operation) as AclBinding["operation"],
        permission: label(AclPermissionTypes, a.permissionType) as AclBinding["permission"],
      })),
    );
  }

  async createAcls(acls: AclBinding[]): Promise<void> {
    if (acls.length === 0) return;
    const answer = await createAclsV3.api.async(this.connection, acls.map(toAcl));
    answer.results.forEach((r) => {
      check("CreateAcls", r.errorCode, r.errorMessage);
    });
  }

  /** Deletes exactly these ACLs. */
  async deleteAcls(acls: AclBinding[]): Promise<void> {
    if (acls.length === 0) return;
    const answer = await deleteAclsV3.api.async(this.connection, acls.map(toAcl));
    for (const r of answer.filterResults) check("DeleteAcls", r.errorCode, r.errorMessage);
  }

  /** Sets a user's quotas; keys left undefined are removed. */
  async setQuotas(user: string, quotas: Record<QuotaKey, number | undefined>): Promise<void> {
    const answer = await alterClientQuotasV1.api.async(
      this.connection,
      [
        {
          entities: [{ entityType: ClientQuotaEntityTypes.USER, entityName: user }],
          ops: (Object.entries(quotas) as [QuotaKey, number | undefined][]).map(([key, value]) =>
            value === undefined
              ? { key, remove: true as const }
              : { key, value, remove: false as const },
          ),
        },
      ],
      false,
    );
    for (const e of answer.entries)
      check(`AlterClientQuotas of ${user}`, e.errorCode, e.errorMessage);
  }
}

/** Asks one Kafka cluster everything the live status needs, over one connection. */
export async function askKafka(o: AskOptions): Promise<KafkaView> {
  const session = await AdminSession.open(o);
  try {
    return await session.view();
  } finally {
    await session.close();
  }
}
