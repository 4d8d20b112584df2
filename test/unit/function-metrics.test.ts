/**
 * Metrics from the claim: the Strimzi image's exporter wiring in every pod,
 * the exporter configuration per Kubernetes cluster, the PodMonitor and
 * PrometheusRule where asked; what rolls and what does not.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { RunFunctionResponse } from "@crossplane-org/function-sdk-typescript";
import type { KubeObject } from "../../functions/render.ts";
import { defaultExporterConfig, kafkaAlerts } from "../../functions/stretch-kafka/metrics.ts";
import { observedFrom, podSetsCurrent, runExample } from "./function-fixtures.ts";

interface Manifest extends KubeObject {
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}
interface Pod {
  metadata: { name: string; annotations: Record<string, string> };
  spec: {
    containers: {
      env: { name: string; value: string }[];
      ports: { name: string; containerPort: number }[];
    }[];
    volumes: { name: string; configMap?: unknown; projected?: { sources: unknown[] } }[];
  };
}

function manifests(r: RunFunctionResponse): { cluster: string; m: Manifest }[] {
  return Object.values(r.desired?.resources ?? {}).map((d) => {
    const mr = d.resource as {
      spec: { providerConfigRef: { name: string }; forProvider: { manifest: Manifest } };
    };
    return { cluster: mr.spec.providerConfigRef.name, m: mr.spec.forProvider.manifest };
  });
}

const pods = (r: RunFunctionResponse): Pod[] =>
  manifests(r)
    .filter((x) => x.m.kind === "StrimziPodSet")
    .flatMap((x) => (x.m.spec as { pods: Pod[] }).pods);

const metricsOn = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}): void => {
  (spec["kafka"] as Record<string, unknown>)["metrics"] = {
    type: "jmxPrometheusExporter",
    ...extra,
  };
};

test("every pod starts the image's exporter agent and reads the cluster's exporter configuration", () => {
  const r = runExample((s) => {
    metricsOn(s);
  });
  const all = pods(r);
  assert.ok(all.length >= 3);
  for (const p of all) {
    const c = p.spec.containers[0];
    assert.ok(c);
    assert.deepEqual(
      c.env.find((e) => e.name === "KAFKA_JMX_EXPORTER_ENABLED"),
      { name: "KAFKA_JMX_EXPORTER_ENABLED", value: "true" },
      p.metadata.name,
    );
    assert.ok(c.ports.some((x) => x.name === "tcp-prometheus" && x.containerPort === 9404));
    const v = p.spec.volumes.find((x) => x.name === "kafka-metrics-and-logging");
    assert.deepEqual(v?.projected?.sources, [
      { configMap: { name: p.metadata.name } },
      {
        configMap: {
          name: "orders-kafka-metrics",
          items: [{ key: "metrics-config.json", path: "metrics-config.json" }],
        },
      },
    ]);
  }
  const configs = manifests(r).filter((x) => x.m.metadata.name === "orders-kafka-metrics");
  assert.deepEqual(configs.map((x) => x.cluster).sort(), ["east", "north", "west"]);
  for (const { m } of configs) {
    assert.deepEqual(JSON.parse(m.data?.["metrics-config.json"] ?? ""), defaultExporterConfig);
  }
});

test("a PodMonitor per cluster labels every series with the Kafka cluster, the Kubernetes cluster and the node id", () => {
  const r = runExample((s) => {
    metricsOn(s, { podMonitor: { interval: "10s", labels: { release: "prom" } } });
  });
  const monitors = manifests(r).filter((x) => x.m.kind === "PodMonitor");
  assert.deepEqual(monitors.map((x) => x.cluster).sort(), ["east", "north", "west"]);
  for (const { cluster, m } of monitors) {
    assert.equal(m.metadata.labels?.["release"], "prom");
    const spec = m.spec as {
      selector: { matchLabels: Record<string, string> };
      podMetricsEndpoints: { port: string; interval: string; relabelings: unknown[] }[];
    };
    assert.deepEqual(spec.selector.matchLabels, {
      "strimzi.io/cluster": "orders",
      "strimzi.io/kind": "Kafka",
    });
    const [ep] = spec.podMetricsEndpoints;
    assert.ok(ep);
    assert.equal(ep.port, "tcp-prometheus");
    assert.equal(ep.interval, "10s");
    assert.ok(
      ep.relabelings.some(
        (x) =>
          JSON.stringify(x) ===
          JSON.stringify({ targetLabel: "kubernetes_cluster", replacement: cluster }),
      ),
      `${cluster}: kubernetes_cluster is the claim's cluster name`,
    );
  }
  // No rules unless asked.
  assert.equal(manifests(r).filter((x) => x.m.kind === "PrometheusRule").length, 0);
});

test("a PrometheusRule per cluster where asked, scoped to this Kafka cluster; no PodMonitor when turned off", () => {
  const r = runExample((s) => {
    metricsOn(s, { podMonitor: { enabled: false }, prometheusRule: { enabled: true } });
  });
  assert.equal(manifests(r).filter((x) => x.m.kind === "PodMonitor").length, 0);
  const rules = manifests(r).filter((x) => x.m.kind === "PrometheusRule");
  assert.equal(rules.length, 3);
  for (const { m } of rules) {
    const [group] = (m.spec as { groups: { rules: { expr: string }[] }[] }).groups;
    assert.ok(group);
    assert.deepEqual(group.rules, kafkaAlerts("orders"));
    for (const rule of group.rules) assert.match(rule.expr, /kafka_cluster="orders"/);
  }
});

test("turning metrics on rolls every node; changing the exporter configuration rolls none", () => {
  const revisions = (r: RunFunctionResponse): string[] =>
    pods(r).map((p) => p.metadata.annotations["strimzi.io/revision"] ?? "");
  const off = revisions(runExample(() => {}));
  const on = runExample((s) => {
    metricsOn(s);
  });
  const changed = runExample((s) => {
    metricsOn(s, { config: { lowercaseOutputName: true, rules: [{ pattern: ".*" }] } });
  });
  assert.ok(
    revisions(on).every((rev, i) => rev !== off[i]),
    "every pod changes when metrics are turned on",
  );
  assert.deepEqual(revisions(changed), revisions(on));
  const cm = manifests(changed).find((x) => x.m.metadata.name === "orders-kafka-metrics");
  assert.deepEqual(JSON.parse(cm?.m.data?.["metrics-config.json"] ?? ""), {
    lowercaseOutputName: true,
    rules: [{ pattern: ".*" }],
  });
});

test("metrics off: the exporter stays off and nothing of metrics is composed", () => {
  const r = runExample(() => {});
  for (const p of pods(r)) {
    assert.equal(
      p.spec.containers[0]?.env.find((e) => e.name === "KAFKA_JMX_EXPORTER_ENABLED")?.value,
      "false",
    );
  }
  assert.ok(
    !manifests(r).some(
      (x) =>
        x.m.kind === "PodMonitor" ||
        x.m.kind === "PrometheusRule" ||
        x.m.metadata.name === "orders-kafka-metrics",
    ),
  );
});

test("metrics turned off: the exporter ConfigMap stays until every node has rolled off it", () => {
  const on = runExample((s) => {
    metricsOn(s);
  });
  const exporterConfigs = observedFrom(on, (mr) =>
    (mr["spec"] as { forProvider: { manifest: Manifest } }).forProvider.manifest.metadata.name ===
    "orders-kafka-metrics"
      ? {}
      : undefined,
  );
  assert.equal(exporterConfigs.length, 3);
  const kept = (r: RunFunctionResponse): string[] =>
    manifests(r)
      .filter((x) => x.m.metadata.name === "orders-kafka-metrics")
      .map((x) => x.cluster)
      .sort();
  // Turned off while every pod still mounts it: kept in every cluster.
  const off = runExample(() => {}, undefined, [...exporterConfigs, ...podSetsCurrent(on)]);
  assert.deepEqual(kept(off), ["east", "north", "west"]);
  assert.ok(
    pods(off).every((p) => !JSON.stringify(p.spec.volumes).includes("orders-kafka-metrics")),
  );
  // Once every node runs the revision without it, it goes.
  const rolled = runExample(() => {}, undefined, [...exporterConfigs, ...podSetsCurrent(off)]);
  assert.deepEqual(kept(rolled), []);
});
