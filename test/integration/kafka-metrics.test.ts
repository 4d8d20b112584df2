/**
 * Metrics, alerts and dashboards on real Kafka through the whole path, read
 * by a real Prometheus (Debian's package): the nodes run the JMX exporter
 * agent as the Strimzi image does, Prometheus scrapes them through the
 * PodMonitors the function composed in each cluster (discovery from each
 * cluster's API server) and scrapes the controller; it evaluates the composed
 * PrometheusRules and the controller's rules. promtool checks every rule file;
 * every dashboard query and alert expression is run against the live data;
 * stopping a whole Kubernetes cluster fires the alerts that say so.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import cloneDeep from "lodash/cloneDeep.js";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../../controller/kube/dynamic.ts";
import { eventually } from "../../devbed/eventually.ts";
import { KafkaStretchBed } from "../../devbed/kafka/stretch-bed.ts";
import {
  checkRules,
  PodDiscovery,
  prometheusBinaries,
  PrometheusServer,
  ruleFileOf,
  scrapeConfigOf,
  type PodMonitor,
  type PrometheusBinaries,
} from "../../devbed/prometheus.ts";
import { standaloneInstall } from "../../devbed/packages.ts";
import { threeClusterClaim } from "../kafka/claims.ts";
import { NumberedProducer, startStream } from "../kafka/proofs.ts";
import { teardown } from "../teardown.ts";

const log = (m: string): void => {
  console.log(`[metrics] ${m}`);
};

const root = new URL("../../", import.meta.url).pathname;
const dashboards = ["stretch-kafka.json", "stretch-kafka-controller.json"];
const monitoringFile = join(root, "package", "standalone", "monitoring.yaml");

interface Dashboard {
  panels: { title: string; targets: { expr: string }[] }[];
}
interface Rule {
  alert: string;
  expr: string;
}
interface RuleObject extends KubeObject {
  spec: { groups: { name: string; rules: Rule[] }[] };
}

/** A panel's query as Grafana sends it with every variable at "All". */
const asSent = (expr: string): string =>
  expr
    .replaceAll("$__rate_interval", "1m")
    .replaceAll(/\$(kafka_cluster|kubernetes_cluster|composite)\b/g, ".*");

const controllerRules = (): RuleObject => {
  const found = parseAllDocuments(readFileSync(monitoringFile, "utf8"))
    .map((d) => d.toJS() as KubeObject)
    .find((o) => o.kind === "PrometheusRule");
  assert.ok(found, `${monitoringFile} has a PrometheusRule`);
  return found as RuleObject;
};

describe("metrics, alerts and dashboards on real Kafka and real Prometheus", () => {
  let bed: KafkaStretchBed;
  let producer: NumberedProducer;
  let prom: PrometheusServer;
  let discovery: PodDiscovery;
  let bins: PrometheusBinaries;
  const work = mkdtempSync(join(tmpdir(), "stretch-kafka-prometheus-"));
  const claim = threeClusterClaim("metrics", "static");
  const kafka = (claim["spec"] as { kafka: Record<string, unknown> }).kafka;
  kafka["metrics"] = {
    type: "jmxPrometheusExporter",
    podMonitor: { interval: "5s", labels: { release: "test" } },
    prometheusRule: { enabled: true },
  };
  const monitors = new Map<string, PodMonitor>();
  const rules = new Map<string, RuleObject>();

  before(async () => {
    bins = await prometheusBinaries(log);
    bed = await KafkaStretchBed.start({
      claim: cloneDeep(claim),
      latencyMs: 5,
      log,
      controllerMetrics: true,
    });
    producer = await startStream(bed, "orders", 6);
    for (const [name, remote] of bed.remotes) {
      const list = (kind: string): Promise<{ items: KubeObject[] }> =>
        remote.list("monitoring.coreos.com/v1", kind, { namespace: bed.namespace });
      const [pm] = (await list("PodMonitor")).items;
      const [pr] = (await list("PrometheusRule")).items;
      assert.ok(pm && pr, `${name}: a PodMonitor and a PrometheusRule`);
      monitors.set(name, pm as unknown as PodMonitor);
      rules.set(name, pr as RuleObject);
    }
    for (const [name, pr] of rules) writeFileSync(join(work, `${name}.rules.yml`), ruleFileOf(pr));
    const controllerFile = join(work, "controller.rules.yml");
    writeFileSync(controllerFile, ruleFileOf(controllerRules()));
    const metricsUrl = new URL(bed.metricsUrl ?? "");
    discovery = await PodDiscovery.start(bed.remotes);
    prom = await PrometheusServer.start({
      binary: bins.prometheus,
      dir: work,
      config: {
        global: { scrape_interval: "5s", evaluation_interval: "5s" },
        // Every cluster's rules are the same, scoped to the Kafka cluster; one
        // Prometheus over all clusters loads them once (checked below).
        rule_files: [join(work, `${bed.clusters[0] ?? ""}.rules.yml`), controllerFile],
        scrape_configs: [
          ...[...monitors].flatMap(([name, pm]) => scrapeConfigOf(name, pm, discovery.for(name))),
          {
            job_name: "stretch-kafka-controller",
            static_configs: [{ targets: [metricsUrl.host] }],
          },
        ],
      },
    });
  });

  after(async () => {
    await teardown(
      () => {
        producer.stop();
      },
      () => prom.stop(),
      () => discovery.stop(),
      () => bed.stop(),
      () => {
        rmSync(work, { recursive: true, force: true });
      },
    );
  });

  test("promtool accepts every rule file: the composed PrometheusRules and the controller's", async () => {
    const specs = [...rules.values()].map((r) => r.spec);
    for (const spec of specs) assert.deepEqual(spec, specs[0], "every cluster has the same rules");
    const files = [...rules.keys()].map((n) => join(work, `${n}.rules.yml`));
    const out = await checkRules(bins.promtool, [...files, join(work, "controller.rules.yml")]);
    assert.match(out, /SUCCESS: \d+ rules found/);
    // The same checker refuses a broken rule, so its acceptance means something.
    const broken = join(work, "broken.rules.yml");
    writeFileSync(broken, "groups: [{name: x, rules: [{alert: X, expr: 'sum by (a (up)'}]}]\n");
    await assert.rejects(checkRules(bins.promtool, [broken]), /parse error|unclosed/i);
  });

  test("the standalone install's monitoring.yaml applies: ServiceMonitor, PrometheusRule, dashboards", async () => {
    const { monitoring } = await standaloneInstall(work);
    const objects = parseAllDocuments(readFileSync(monitoring, "utf8")).map(
      (d) => d.toJS() as KubeObject & { data?: Record<string, string> },
    );
    for (const obj of objects) await bed.central.apply(obj, { fieldManager: "test" });
    assert.deepEqual(
      objects.map((o) => o.kind),
      ["Service", "ServiceMonitor", "PrometheusRule", "ConfigMap", "ConfigMap"],
    );
    for (const file of dashboards) {
      const cm = objects.find((o) => o.data?.[file] !== undefined);
      assert.equal(cm?.data?.[file], readFileSync(join(root, "dashboards", file), "utf8"));
    }
  });

  test("Prometheus scrapes every Kafka node in every cluster, each series labelled with its Kafka cluster, Kubernetes cluster and node id", async () => {
    const expected = bed.nodes.map((n) => `${n.cluster}/${String(n.id)}`).sort();
    const seen = await eventually(
      "every node's exporter is up",
      async () => {
        const up = await prom.query('up{kafka_cluster="metrics"} == 1');
        const got = up
          .map((s) => `${s.metric["kubernetes_cluster"] ?? ""}/${s.metric["node_id"] ?? ""}`)
          .sort();
        return got.length === expected.length ? got : undefined;
      },
      180,
      2000,
    );
    assert.deepEqual(seen, expected);
    for (const label of ["kafka_cluster", "kubernetes_cluster", "node_id"]) {
      const missing = await prom.query(`count({job="kafka/metrics-kafka", ${label}=""})`);
      assert.deepEqual(missing, [], `series without ${label}`);
    }
    const racks = await prom.query(
      "count by (kubernetes_cluster) (kafka_server_kafkaserver_brokerstate)",
    );
    assert.deepEqual(
      racks.map((r) => r.metric["kubernetes_cluster"]).sort(),
      [...bed.clusters].sort(),
    );
  });

  test("every dashboard panel's query returns data", async () => {
    // Rates need samples in their window: every target scraped four times.
    await eventually(
      "every target has four scrapes",
      async () =>
        (await prom.query("min(count_over_time(up[1m])) >= 4")).length > 0 ? true : undefined,
      120,
      2000,
    );
    const empty: string[] = [];
    for (const file of dashboards) {
      const d = JSON.parse(readFileSync(join(root, "dashboards", file), "utf8")) as Dashboard;
      for (const p of d.panels) {
        for (const t of p.targets) {
          const result = await prom.query(asSent(t.expr));
          if (result.length === 0) empty.push(`${file}: ${p.title}: ${t.expr}`);
        }
      }
    }
    assert.deepEqual(empty, []);
  });

  test("every alert expression is valid against the data, and none holds on a healthy cluster", async () => {
    const all = [...rules.values(), controllerRules()].flatMap((r) =>
      r.spec.groups.flatMap((g) => g.rules),
    );
    assert.ok(all.length >= 14);
    for (const r of all) await prom.query(r.expr);
    // Not even pending: no expression holds while every cluster runs.
    assert.deepEqual(
      (await prom.alerts()).map((a) => `${a.labels["alertname"] ?? ""} (${a.state})`),
      [],
    );
  });

  test("stopping a whole Kubernetes cluster fires the alerts that name it", async () => {
    await bed.stopCluster("west");
    const fired = await eventually(
      "KafkaKubernetesClusterDown and StretchKafkaClusterBrokersFenced fire for west",
      async () => {
        const alerts = (await prom.alerts()).filter((a) => a.state === "firing");
        const down = alerts.find(
          (a) =>
            a.labels["alertname"] === "KafkaKubernetesClusterDown" &&
            a.labels["kubernetes_cluster"] === "west",
        );
        const fenced = alerts.find(
          (a) =>
            a.labels["alertname"] === "StretchKafkaClusterBrokersFenced" &&
            a.labels["cluster"] === "west",
        );
        if (down && fenced) return alerts;
        // Said when the wait runs out: what Prometheus has instead.
        const all = await prom.alerts();
        throw new Error(
          `alerts now: ${all.map((a) => `${a.labels["alertname"] ?? ""}(${a.state})`).join(", ") || "none"}`,
        );
      },
      240,
      3000,
    );
    // Only the lost cluster is said to be down.
    assert.deepEqual(
      fired
        .filter((a) => a.labels["alertname"] === "KafkaKubernetesClusterDown")
        .map((a) => a.labels["kubernetes_cluster"]),
      ["west"],
    );
  });
});
