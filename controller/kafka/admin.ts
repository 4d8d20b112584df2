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
 * Told when asked to: AlterPartitionReassignments, IncrementalAlterConfigs
 * (replication throttles), UnregisterBroker, UpdateFeatures (metadata.version
 * after an upgrade), AddRaftVoter and RemoveRaftVoter (a dynamic quorum's voters).
 *
 * Kafka client: @platformatic/kafka's protocol layer (docs/adr/0011).
 */
import type { LookupFunction } from "node:net";
import {
  alterPartitionReassignmentsV0,
  apiVersionsV4,
  ConfigResourceTypes,
  Connection,
  describeConfigsV4,
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
  /** Every registered broker, with its rack and whether the controller has fenced it. */
  brokers: { id: number; rack: string | null; fenced: boolean }[];
  quorum: {
    leaderId: number;
    leaderEpoch: number;
    highWatermark: bigint;
    voters: QuorumReplica[];
    observers: QuorumReplica[];
  };
  topics: {
    name: string;
    internal: boolean;
    minIsr: number | undefined;
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
    private readonly timeoutMs: number,
  ) {}

  static async open(o: AskOptions): Promise<AdminSession> {
    const { connection, via } = await connect(o);
    return new AdminSession(connection, via, o.timeoutMs);
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => {});
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
    const minIsr = new Map<string, number>();
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
        const v = r.configs.find((c) => c.name === "min.insync.replicas")?.value;
        if (v) minIsr.set(r.resourceName, Number(v));
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

/** Asks one Kafka cluster everything the live status needs, over one connection. */
export async function askKafka(o: AskOptions): Promise<KafkaView> {
  const session = await AdminSession.open(o);
  try {
    return await session.view();
  } finally {
    await session.close();
  }
}
