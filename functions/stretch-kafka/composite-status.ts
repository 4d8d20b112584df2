/**
 * What the composite reports: its status (what runs where, node ids, Kafka's
 * own view, removals and maintenance under way) and the connection details
 * clients use (bootstrap addresses, the cluster CA, per-cluster addresses,
 * producer settings).
 */
import type { KafkaLive, NodeIdAllocation, StretchKafkaStatus } from "../../apis/index.ts";
import { producerDefaults } from "./kafka-config.ts";
import { caCertSecret } from "./names.ts";
import type { ObservedResources } from "./observed.ts";
import type { Plan } from "./plan.ts";
import type { QuorumMode } from "./quorum-migration.ts";
import type { Leaving } from "./removal.ts";
import type { Spec } from "./spec.ts";
import type { ClusterHealth } from "./status.ts";
import type { Topology } from "./topology.ts";

export interface StatusInput {
  spec: Spec;
  t: Topology;
  plan: Plan;
  health: ClusterHealth[];
  clusterId: string;
  remoteObjects: NonNullable<StretchKafkaStatus["remoteObjects"]>;
  mode: QuorumMode;
  migrationPhase: NonNullable<StretchKafkaStatus["quorumMigration"]>["phase"] | undefined;
  allocation: NodeIdAllocation;
  bootstrapControllers: number[];
  /** Of those, the ones of clusters given up for good, with the address they had. */
  formerBootstrap: { id: number; address: string }[];
  /** The bootstrap address every cluster's clients can use, if the networking provider has one. */
  clusterSetBootstrap: string | undefined;
  finalizedMetadata: string | undefined;
  live: KafkaLive | undefined;
  draining: Leaving[];
  leavingVoters: Leaving[];
  retired: number[];
  evacuate: string[];
  restoring: string[];
  /** Brokers that joined and have not taken their share yet (rebalance.ts). */
  joining: number[];
}

function bootstrap(o: StatusInput): { all: string; external: string } {
  return {
    all: o.clusterSetBootstrap ?? [...o.plan.bootstrapByCluster.values()].join(","),
    external: [...o.plan.externalBootstrap.values()].join(","),
  };
}

export function compositeStatus(o: StatusInput): StretchKafkaStatus {
  const { t, health } = o;
  const totalPods = health.reduce((s, h) => s + (h.pods?.total ?? 0), 0);
  const readyPods = health.reduce((s, h) => s + (h.pods?.ready ?? 0), 0);
  const addresses = bootstrap(o);
  const removing = [
    ...o.draining.map((n) => ({
      id: n.id,
      cluster: n.cluster,
      pool: n.pool,
      ...(n.replicas !== undefined ? { replicasLeft: n.replicas } : {}),
      ...(n.lost ? { lost: true } : {}),
    })),
    ...o.leavingVoters.map((n) => ({
      id: n.id,
      cluster: n.cluster,
      pool: n.pool,
      voter: true,
      ...(n.lost ? { lost: true } : {}),
    })),
  ];
  return {
    summary: {
      clusters: `${health.filter((h) => h.ready).length}/${health.length}`,
      nodes: `${readyPods}/${totalPods}`,
    },
    clusterId: o.clusterId,
    remoteObjects: o.remoteObjects,
    networkingProvider: o.spec.networking.provider,
    quorumMode: o.mode,
    ...(o.migrationPhase ? { quorumMigration: { phase: o.migrationPhase } } : {}),
    nodeIds: o.allocation,
    clusters: health.map(({ notOurs: _n, ...h }) => h),
    kafka: {
      version: o.spec.kafka.version,
      controllers: t.controllers.map((n) => n.id),
      brokers: t.brokers.map((n) => n.id),
      ...(o.mode === "dynamic" ? { bootstrapControllers: o.bootstrapControllers } : {}),
      ...(o.mode === "dynamic" && o.formerBootstrap.length > 0
        ? { formerBootstrapControllers: o.formerBootstrap }
        : {}),
      ...(addresses.all ? { bootstrapServers: addresses.all } : {}),
      ...(addresses.external ? { externalBootstrapServers: addresses.external } : {}),
      ...(o.finalizedMetadata ? { metadataVersion: o.finalizedMetadata } : {}),
      ...(o.live ? { live: o.live } : {}),
      ...(removing.length > 0 ? { removing } : {}),
      ...(o.retired.length > 0 ? { retiredBrokers: o.retired } : {}),
      ...(o.evacuate.length > 0 ? { evacuated: o.evacuate } : {}),
      ...(o.restoring.length > 0 ? { restoringLeadership: o.restoring } : {}),
      ...(o.joining.length > 0 ? { joiningBrokers: o.joining } : {}),
    },
  };
}

/** The connection Secret's keys. */
export function connectionDetails(
  o: StatusInput,
  observed: ObservedResources,
): Record<string, Buffer> {
  const { t, plan } = o;
  const addresses = bootstrap(o);
  const connection: Record<string, Buffer> = {};
  if (addresses.all) connection["bootstrap.servers"] = Buffer.from(addresses.all);
  if (addresses.external)
    connection["external.bootstrap.servers"] = Buffer.from(addresses.external);
  // The cluster CA clients must trust, once the provider has published it anywhere.
  const caMr = t.clusters
    .map((c) => observed[`${c.name}-secret-${caCertSecret(t.kafkaName)}`]?.status?.atProvider)
    .find((ap) => typeof ap?.["caCertificate"] === "string");
  if (caMr) connection["ca.crt"] = Buffer.from(caMr["caCertificate"] as string);
  connection["clusters"] = Buffer.from(
    JSON.stringify(
      Object.fromEntries(
        t.clusters.map((c) => [
          c.name,
          {
            rack: c.rack,
            bootstrapServers: plan.bootstrapByCluster.get(c.name) ?? "",
            ...(plan.externalBootstrap.has(c.name)
              ? { externalBootstrapServers: plan.externalBootstrap.get(c.name) }
              : {}),
          },
        ]),
      ),
    ),
  );
  // Producer settings measured to keep throughput across inter-cluster latency.
  connection["producer.properties"] = Buffer.from(
    Object.entries(producerDefaults)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(""),
  );
  return connection;
}
