/**
 * The admin channel: what the provider asks one Kafka cluster, over one
 * connection to one broker's replication listener, authenticated with a
 * certificate of the cluster CA (as Strimzi's cluster operator is). Five
 * requests, each answered by any broker: ApiVersions (finalized features),
 * DescribeCluster (the brokers registered and unfenced), DescribeQuorum (the
 * KRaft quorum, forwarded to the active controller), Metadata (every topic's
 * partitions) and DescribeConfigs (each topic's min.insync.replicas).
 *
 * Kafka client: @platformatic/kafka's protocol layer (docs/adr/0011).
 */
import type { LookupFunction } from "node:net";
import {
  apiVersionsV4,
  ConfigResourceTypes,
  Connection,
  describeClusterV1,
  describeConfigsV4,
  describeQuorumV2,
  metadataV12,
} from "@platformatic/kafka";

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
  logEndOffset: bigint;
  lastFetchTimestamp: bigint;
  lastCaughtUpTimestamp: bigint;
}

/** Kafka's answers, as they came. */
export interface KafkaView {
  via: string;
  clusterId: string;
  features: Record<string, number>;
  /** Brokers registered and unfenced, with their racks. */
  brokers: { id: number; rack: string | null }[];
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
    partitions: {
      id: number;
      leader: number;
      replicas: number[];
      isr: number[];
      offline: number[];
    }[];
  }[];
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

function check(what: string, errorCode: number, message?: string | null): void {
  if (errorCode !== 0)
    throw new Error(`${what} failed with Kafka error ${errorCode}${message ? `: ${message}` : ""}`);
}

/** Asks one Kafka cluster everything the live status needs, over one connection. */
export async function askKafka(o: AskOptions): Promise<KafkaView> {
  const { connection, via } = await connect(o);
  try {
    const versions = await apiVersionsV4.api.async(connection, "stretch-kafka", "0");
    const cluster = await describeClusterV1.api.async(connection, false, 1);
    check("DescribeCluster", cluster.errorCode, cluster.errorMessage);
    const quorum = await describeQuorumV2.api.async(connection, [
      { topicName: "__cluster_metadata", partitions: [{ partitionIndex: 0 }] },
    ]);
    check("DescribeQuorum", quorum.errorCode, quorum.errorMessage);
    const part = quorum.topics[0]?.partitions[0];
    if (!part) throw new Error("DescribeQuorum answered without the metadata partition");
    check("DescribeQuorum", part.errorCode, part.errorMessage);
    const metadata = await metadataV12.api.async(connection, null, false, false);
    const names = metadata.topics.flatMap((t) => (t.name ? [t.name] : []));
    const minIsr = new Map<string, number>();
    if (names.length > 0) {
      const configs = await describeConfigsV4.api.async(
        connection,
        names.map((n) => ({
          resourceType: ConfigResourceTypes.TOPIC,
          resourceName: n,
          configurationKeys: ["min.insync.replicas"],
        })),
        false,
        false,
      );
      for (const r of configs.results) {
        const v = r.configs.find((c) => c.name === "min.insync.replicas")?.value;
        if (r.errorCode === 0 && v) minIsr.set(r.resourceName, Number(v));
      }
    }
    const replica = (v: {
      replicaId: number;
      logEndOffset: bigint;
      lastFetchTimestamp: bigint;
      lastCaughtUpTimestamp: bigint;
    }): QuorumReplica => ({
      id: v.replicaId,
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
      brokers: cluster.brokers.map((b) => ({ id: b.brokerId, rack: b.rack ?? null })),
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
          partitions: t.partitions.map((p) => ({
            id: p.partitionIndex,
            leader: p.leaderId,
            replicas: p.replicaNodes,
            isr: p.isrNodes,
            offline: p.offlineReplicas,
          })),
        })),
    };
  } finally {
    await connection.close().catch(() => {});
  }
}
