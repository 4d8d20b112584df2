/** The provider's Prometheus metrics (prom-client), on a registry of its own. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { RequestInfo } from "./kube/dynamic.ts";

export class Metrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: "stretchkafka_reconcile_total",
    help: "Reconciles by managed-resource kind and outcome (success, requeue, error, terminal).",
    labelNames: ["kind", "outcome"] as const,
    registers: [this.registry],
  });
  readonly reconcileSeconds = new Histogram({
    name: "stretchkafka_reconcile_duration_seconds",
    help: "Reconcile duration by managed-resource kind.",
    labelNames: ["kind"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly requests = new Counter({
    name: "stretchkafka_kube_requests_total",
    help: "Kubernetes API requests by cluster (central or a ProviderConfig), verb and HTTP code (0: no answer). Watches count when they end.",
    labelNames: ["cluster", "verb", "code"] as const,
    registers: [this.registry],
  });
  readonly requestSeconds = new Histogram({
    name: "stretchkafka_kube_request_duration_seconds",
    help: "Kubernetes API request latency by cluster and verb (watches excluded).",
    labelNames: ["cluster", "verb"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: "stretchkafka_workqueue_depth",
    help: "Managed resources waiting for a worker.",
    registers: [this.registry],
  });
  readonly managedResources = new Gauge({
    name: "stretchkafka_managed_resources",
    help: "Managed resources by kind and their Ready and Synced condition status.",
    labelNames: ["kind", "ready", "synced"] as const,
    registers: [this.registry],
  });

  readonly remoteClusterReady = new Gauge({
    name: "stretchkafka_remote_cluster_ready",
    help: "1 when the provider reaches a ProviderConfig's cluster with its credentials (the ProviderConfig's Ready condition), else 0.",
    labelNames: ["cluster"] as const,
    registers: [this.registry],
  });
  readonly certificateExpiry = new Gauge({
    name: "stretchkafka_certificate_expiry_timestamp_seconds",
    help: "When a certificate the provider issued into a remote Secret expires (Unix time); renewed 30 days before by default.",
    labelNames: ["cluster", "namespace", "secret"] as const,
    registers: [this.registry],
  });

  readonly kafkaReachable = new Gauge({
    name: "stretchkafka_kafka_reachable",
    help: "1 when the provider's last request over the admin channel of a Kafka cluster (a composite) was answered, else 0.",
    labelNames: ["composite"] as const,
    registers: [this.registry],
  });
  readonly kafkaVoters = new Gauge({
    name: "stretchkafka_kafka_quorum_voters",
    help: "KRaft voters by Kubernetes cluster and whether caught up with the leader (caught_up: true or false).",
    labelNames: ["composite", "cluster", "caught_up"] as const,
    registers: [this.registry],
  });
  readonly kafkaBrokers = new Gauge({
    name: "stretchkafka_kafka_brokers",
    help: "Brokers the claim asks for, by Kubernetes cluster and state (Registered: registered and unfenced; Fenced: registered, not heartbeating; NotRegistered).",
    labelNames: ["composite", "cluster", "state"] as const,
    registers: [this.registry],
  });
  readonly kafkaPartitions = new Gauge({
    name: "stretchkafka_kafka_partitions",
    help: "Partitions by state: total, under_replicated, under_min_isr, offline.",
    labelNames: ["composite", "state"] as const,
    registers: [this.registry],
  });
  readonly kafkaDataAtRisk = new Gauge({
    name: "stretchkafka_kafka_data_at_risk_topics",
    help: "Topics that would lose every replica, or fall below min.insync.replicas, if one Kubernetes cluster were lost.",
    labelNames: ["composite"] as const,
    registers: [this.registry],
  });
  readonly kafkaRebalancePartitions = new Gauge({
    name: "stretchkafka_kafka_rebalance_partitions_to_move",
    help: "Partitions whose replicas still move, onto brokers that joined or for an approved KafkaRebalance (0 once done; absent when neither).",
    labelNames: ["composite"] as const,
    registers: [this.registry],
  });
  readonly kafkaAskSeconds = new Histogram({
    name: "stretchkafka_kafka_admin_duration_seconds",
    help: "Time to ask one Kafka cluster for its live status (one connection, five requests).",
    labelNames: ["outcome"] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** A request hook for the dynamic client of one cluster. */
  requestHook(cluster: string): (info: RequestInfo) => void {
    return (info) => {
      this.requests.inc({ cluster, verb: info.verb, code: String(info.code) });
      if (!info.watch) this.requestSeconds.observe({ cluster, verb: info.verb }, info.ms / 1000);
    };
  }

  /** Requests so far by verb, watches left out (for benchmarks and tests). */
  async requestCounts(): Promise<{ reads: number; writes: number }> {
    const m = await this.requests.get();
    let reads = 0;
    let writes = 0;
    for (const v of m.values) {
      if (v.labels.verb === "WATCH") continue;
      if (v.labels.verb === "GET") reads += v.value;
      else writes += v.value;
    }
    return { reads, writes };
  }
}
