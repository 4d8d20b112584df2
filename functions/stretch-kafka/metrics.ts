/**
 * Prometheus metrics of the Kafka nodes, wired the way the Strimzi Kafka image
 * reads them: with KAFKA_JMX_EXPORTER_ENABLED=true its kafka_run.sh starts the
 * JMX exporter agent on port 9404 with custom-config/metrics-config.json. That
 * file comes from one ConfigMap per Kubernetes cluster, projected into the
 * node's custom-config volume beside the node's own ConfigMap, so a change of
 * the exporter rules changes no pod (the agent rereads its file) while turning
 * metrics on or off changes every pod (a Kafka-aware roll).
 *
 * Per cluster, where the claim asks: a Prometheus Operator PodMonitor that
 * labels every series with kafka_cluster, kubernetes_cluster and node_id, and
 * a PrometheusRule with the alerts of docs/monitoring.md.
 */
import type { MetricsSpec } from "../../apis/index.ts";
import { labels } from "./names.ts";
import { remoteMeta, type RemoteObject } from "./resources/remote-object.ts";
import { stringMap } from "./util.ts";

export const metricsPort = { name: "tcp-prometheus", port: 9404 } as const;
/** The file name the image's kafka_run.sh passes to the agent. */
export const metricsConfigKey = "metrics-config.json";

export const metricsConfigMapName = (kafkaName: string): string => `${kafkaName}-kafka-metrics`;

/** The labels the PodMonitor puts on every series of a node. */
export const seriesLabels = {
  kafkaCluster: "kafka_cluster",
  kubernetesCluster: "kubernetes_cluster",
  nodeId: "node_id",
} as const;

const brokerTopicMeters = [
  "BytesIn",
  "BytesOut",
  "MessagesIn",
  "ReplicationBytesIn",
  "ReplicationBytesOut",
  "TotalProduceRequests",
  "TotalFetchRequests",
  "FailedProduceRequests",
  "FailedFetchRequests",
];
const replicaManagerGauges = [
  "UnderReplicatedPartitions",
  "UnderMinIsrPartitionCount",
  "AtMinIsrPartitionCount",
  "OfflineReplicaCount",
  "PartitionCount",
  "LeaderCount",
  "ReassigningPartitions",
];
const controllerGauges = [
  "ActiveControllerCount",
  "ActiveBrokerCount",
  "FencedBrokerCount",
  "OfflinePartitionsCount",
  "GlobalPartitionCount",
  "GlobalTopicCount",
  "PreferredReplicaImbalanceCount",
  "LastAppliedRecordLagMs",
  "MetadataErrorCount",
];
const raftGauges = [
  "current-leader",
  "current-epoch",
  "current-vote",
  "high-watermark",
  "log-end-offset",
  "number-of-voters",
  "number-of-observers",
  "number-unknown-voter-connections",
  "commit-latency-avg",
  "commit-latency-max",
  "election-latency-max",
  "append-records-rate",
  "fetch-records-rate",
  "uncommitted-voter-change",
];

/**
 * stretch-kafka's exporter configuration: per-node totals only (no per-topic
 * or per-partition series, whose count grows with the topics), the figures
 * the dashboards and alerts use. The agent adds its JVM metrics (jvm_*).
 */
export const defaultExporterConfig: Record<string, unknown> = {
  lowercaseOutputName: true,
  lowercaseOutputLabelNames: true,
  rules: [
    {
      pattern: `kafka.server<type=BrokerTopicMetrics, name=(${brokerTopicMeters.join("|")})PerSec><>Count`,
      name: "kafka_server_brokertopicmetrics_$1",
      type: "COUNTER",
    },
    {
      pattern: `kafka.server<type=ReplicaManager, name=(${replicaManagerGauges.join("|")})><>Value`,
      name: "kafka_server_replicamanager_$1",
      type: "GAUGE",
    },
    {
      pattern:
        "kafka.server<type=ReplicaManager, name=(IsrShrinks|IsrExpands|FailedIsrUpdates)PerSec><>Count",
      name: "kafka_server_replicamanager_$1",
      type: "COUNTER",
    },
    {
      pattern: "kafka.server<type=ReplicaFetcherManager, name=MaxLag, clientId=Replica><>Value",
      name: "kafka_server_replicafetchermanager_maxlag",
      type: "GAUGE",
    },
    {
      pattern: "kafka.server<type=KafkaServer, name=BrokerState><>Value",
      name: "kafka_server_kafkaserver_brokerstate",
      type: "GAUGE",
    },
    {
      pattern: `kafka.controller<type=KafkaController, name=(${controllerGauges.join("|")})><>Value`,
      name: "kafka_controller_kafkacontroller_$1",
      type: "GAUGE",
    },
    {
      pattern: `kafka.server<type=raft-metrics><>(${raftGauges.join("|")})`,
      name: "kafka_server_raft_$1",
      type: "GAUGE",
    },
    {
      pattern:
        "kafka.network<type=RequestMetrics, name=TotalTimeMs, request=(Produce|FetchConsumer|FetchFollower)><>(\\d+)thPercentile",
      name: "kafka_network_requestmetrics_totaltimems",
      type: "GAUGE",
      labels: { request: "$1", quantile: "0.$2" },
    },
    {
      pattern: "kafka.network<type=SocketServer, name=NetworkProcessorAvgIdlePercent><>Value",
      name: "kafka_network_socketserver_networkprocessoravgidlepercent",
      type: "GAUGE",
    },
    {
      pattern:
        "kafka.server<type=KafkaRequestHandlerPool, name=RequestHandlerAvgIdlePercent><>OneMinuteRate",
      name: "kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent",
      type: "GAUGE",
    },
  ],
};

interface Base {
  cluster: string;
  kafkaName: string;
  namespace: string;
}

function withLabels(
  meta: ReturnType<typeof remoteMeta>,
  extra: Record<string, string | undefined> | undefined,
): ReturnType<typeof remoteMeta> {
  return extra ? { ...meta, labels: { ...stringMap(extra), ...meta.labels } } : meta;
}

/** The ConfigMap, PodMonitor and PrometheusRule of one cluster, as the claim asks. */
export function metricsObjects(o: Base & { metrics: MetricsSpec }): RemoteObject[] {
  const out: RemoteObject[] = [
    {
      cluster: o.cluster,
      kind: "RemoteConfigMap",
      ownedByAnchor: true,
      manifest: {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: remoteMeta(o, metricsConfigMapName(o.kafkaName)),
        data: {
          [metricsConfigKey]: JSON.stringify(o.metrics.config ?? defaultExporterConfig, null, 2),
        },
      },
    },
  ];
  const pm = o.metrics.podMonitor;
  if (pm?.enabled ?? true) out.push(podMonitor(o, pm?.interval ?? "30s", pm?.labels));
  const rules = o.metrics.prometheusRule;
  if (rules?.enabled) out.push(prometheusRule(o, rules.labels));
  return out;
}

function podMonitor(
  o: Base,
  interval: string,
  extra?: Record<string, string | undefined>,
): RemoteObject {
  const podLabel = (l: string): string =>
    `__meta_kubernetes_pod_label_${l.replace(/[^a-zA-Z0-9_]/g, "_")}`;
  return {
    cluster: o.cluster,
    kind: "RemotePodMonitor",
    ownedByAnchor: true,
    manifest: {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "PodMonitor",
      metadata: withLabels(remoteMeta(o, `${o.kafkaName}-kafka`), extra),
      spec: {
        selector: { matchLabels: { [labels.cluster]: o.kafkaName, [labels.kind]: "Kafka" } },
        namespaceSelector: { matchNames: [o.namespace] },
        podMetricsEndpoints: [
          {
            port: metricsPort.name,
            path: "/metrics",
            interval,
            relabelings: [
              {
                sourceLabels: [podLabel(labels.cluster)],
                targetLabel: seriesLabels.kafkaCluster,
              },
              // The claim's cluster name, which is also every node's broker.rack.
              { targetLabel: seriesLabels.kubernetesCluster, replacement: o.cluster },
              {
                sourceLabels: [podLabel(labels.podName)],
                regex: ".*-([0-9]+)",
                targetLabel: seriesLabels.nodeId,
                replacement: "$1",
              },
              { sourceLabels: [podLabel(labels.poolName)], targetLabel: "pool" },
            ],
          },
        ],
      },
    },
  };
}

/** One alerting rule as Prometheus takes it. */
export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: "warning" | "critical" };
  annotations: { summary: string; description: string };
}

/**
 * The alerts on one Kafka cluster's nodes, scoped to that cluster. A cluster
 * that is lost whole takes its own Prometheus with it: evaluate these where
 * every cluster is scraped (docs/monitoring.md), or rely on the controller's
 * alerts, which see every cluster through Kafka.
 */
export function kafkaAlerts(kafkaName: string): AlertRule[] {
  const sel = `${seriesLabels.kafkaCluster}="${kafkaName}"`;
  const node = `${seriesLabels.kafkaCluster}, ${seriesLabels.kubernetesCluster}, ${seriesLabels.nodeId}`;
  const where = `{{ $labels.${seriesLabels.kubernetesCluster} }}`;
  const nodeText = `node {{ $labels.${seriesLabels.nodeId} }} in ${where}`;
  return [
    {
      alert: "KafkaUnderMinIsrPartitions",
      expr: `sum by (${node}) (kafka_server_replicamanager_underminisrpartitioncount{${sel}}) > 0`,
      for: "1m",
      labels: { severity: "critical" },
      annotations: {
        summary: "Partitions below min.insync.replicas: acks=all producers are refused",
        description: `${nodeText} leads {{ $value }} partition(s) with fewer in-sync replicas than min.insync.replicas.`,
      },
    },
    {
      alert: "KafkaUnderReplicatedPartitions",
      expr: `sum by (${node}) (kafka_server_replicamanager_underreplicatedpartitions{${sel}}) > 0`,
      for: "5m",
      labels: { severity: "warning" },
      annotations: {
        summary: "Partitions with a replica out of sync",
        description: `${nodeText} leads {{ $value }} under-replicated partition(s).`,
      },
    },
    {
      alert: "KafkaOfflinePartitions",
      expr: `max by (${seriesLabels.kafkaCluster}) (kafka_controller_kafkacontroller_offlinepartitionscount{${sel}}) > 0`,
      for: "1m",
      labels: { severity: "critical" },
      annotations: {
        summary: "Partitions without a leader: neither readable nor writable",
        description: "The active controller counts {{ $value }} offline partition(s).",
      },
    },
    {
      alert: "KafkaQuorumWithoutLeader",
      expr: `max by (${node}) (kafka_server_raft_current_leader{${sel}}) < 0`,
      for: "1m",
      labels: { severity: "critical" },
      annotations: {
        summary: "A node sees no KRaft quorum leader",
        description: `${nodeText} has known no quorum leader for a minute: metadata changes stop.`,
      },
    },
    {
      alert: "KafkaControllerLagging",
      expr: `max by (${node}) (kafka_controller_kafkacontroller_lastappliedrecordlagms{${sel}}) > 30000`,
      for: "2m",
      labels: { severity: "warning" },
      annotations: {
        summary: "A controller applies the metadata log late",
        description: `${nodeText} applies metadata records {{ $value }} ms after they were written: a lagging voter.`,
      },
    },
    {
      alert: "KafkaBrokersFenced",
      expr: `max by (${seriesLabels.kafkaCluster}) (kafka_controller_kafkacontroller_fencedbrokercount{${sel}}) > 0`,
      for: "2m",
      labels: { severity: "warning" },
      annotations: {
        summary: "Registered brokers are fenced",
        description:
          "The active controller fences {{ $value }} broker(s): they stopped heartbeating.",
      },
    },
    {
      alert: "KafkaNodeDown",
      expr: `up{${sel}} == 0`,
      for: "2m",
      labels: { severity: "warning" },
      annotations: {
        summary: "A Kafka node's metrics cannot be scraped",
        description: `${nodeText} has not answered Prometheus for two minutes.`,
      },
    },
    {
      alert: "KafkaKubernetesClusterDown",
      expr: `sum by (${seriesLabels.kafkaCluster}, ${seriesLabels.kubernetesCluster}) (up{${sel}}) == 0`,
      for: "1m",
      labels: { severity: "critical" },
      annotations: {
        summary: "Every Kafka node of a Kubernetes cluster is unreachable",
        description: `No Kafka node in ${where} answers: the stretch cluster runs on the others (see the claim's QuorumAtRisk and DataAtRisk).`,
      },
    },
  ];
}

function prometheusRule(o: Base, extra?: Record<string, string | undefined>): RemoteObject {
  return {
    cluster: o.cluster,
    kind: "RemotePrometheusRule",
    ownedByAnchor: true,
    manifest: {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "PrometheusRule",
      metadata: withLabels(remoteMeta(o, `${o.kafkaName}-kafka`), extra),
      spec: { groups: [{ name: `stretch-kafka-${o.kafkaName}`, rules: kafkaAlerts(o.kafkaName) }] },
    },
  };
}
