/**
 * The pod of one Kafka node, as the stock Strimzi Kafka image (0.49+) expects
 * it: args kafka_run.sh, the per-node ConfigMap at /opt/kafka/custom-config,
 * the ServiceAccount through which it reads its certificate Secrets, and the
 * strimzi.io labels the StrimziPodSet controller selects on.
 */
import { createHash } from "node:crypto";
import type { NodePoolSpec } from "../../apis/index.ts";
import { annotations, headlessService, kafkaServiceAccount, labels } from "./names.ts";
import { metricsConfigKey, metricsConfigMapName, metricsPort } from "./metrics.ts";
import { listeners } from "./ports.ts";
import { nodeListeners } from "./kafka-config.ts";
import type { NodeVolume } from "./storage.ts";
import type { KafkaNode } from "./topology.ts";
import { stringMap } from "./util.ts";
import type { Spec } from "./spec.ts";

export const formatScriptKey = "format.sh";
/** Dynamic quorum: the controller's start script (runScript below). */
export const runScriptKey = "run.sh";
/** Where that script builds the stock image's home with its own kafka-storage.sh. */
export const runDir = "/var/opt/stretch-kafka";

/**
 * Dynamic quorum: the stock start script formats storage without
 * --initial-controllers, which Kafka refuses for a controller without static
 * voters; this runs first, and the script's own format then skips the volume.
 */
export function formatScript(initialControllers: string | undefined): string {
  const flag = initialControllers
    ? `--initial-controllers "${initialControllers}"`
    : "--no-initial-controllers";
  return `#!/bin/bash
# Formats this controller's storage for a dynamic (KIP-853) quorum.
set -euo pipefail
cd /opt/kafka
grep -E '^(node\\.id|process\\.roles|controller\\.listener\\.names|controller\\.quorum\\.bootstrap\\.servers|listeners|advertised\\.listeners|listener\\.security\\.protocol\\.map|inter\\.broker\\.listener\\.name|log\\.dirs|metadata\\.log\\.dir)=' \\
  custom-config/server.config > /tmp/format.properties
exec ./bin/kafka-storage.sh format --ignore-formatted \\
  --cluster-id "$(cat custom-config/cluster.id)" \\
  --release-version "$(cat custom-config/metadata.version)" \\
  --config /tmp/format.properties \\
  ${flag}
`;
}

/**
 * Dynamic quorum: the stock start script (kafka_run.sh, Strimzi 1.2 and its
 * main branch as of 2026-08) formats storage with no quorum flag, which Kafka
 * 4.1-4.3 refuses for a controller without static voters ("you must specify
 * one of the following: --standalone, --initial-controllers, or
 * --no-initial-controllers"), so the pod would never start; the real-Kafka
 * tests (docs/adr/0008) showed it. This runs the stock script from a copy of the
 * image's home (symbolic links, in an emptyDir) whose bin/kafka-storage.sh
 * adds --no-initial-controllers to format: volumes format.sh already formatted
 * are skipped as before, a new one joins the existing quorum.
 */
export const runScript = `#!/bin/bash
# Starts the stock kafka_run.sh with a kafka-storage.sh that formats a dynamic-quorum controller.
set -euo pipefail
home=${runDir}/home
rm -rf "$home"
mkdir -p "$home/bin"
for f in /opt/kafka/*; do
  [ "$(basename "$f")" = bin ] || ln -s "$f" "$home/"
done
for f in /opt/kafka/bin/*; do ln -s "$f" "$home/bin/"; done
rm "$home/bin/kafka-storage.sh"
cat > "$home/bin/kafka-storage.sh" <<'EOF'
#!/bin/bash
if [ "\${1:-}" = format ]; then exec /opt/kafka/bin/kafka-storage.sh "$@" --no-initial-controllers; fi
exec /opt/kafka/bin/kafka-storage.sh "$@"
EOF
chmod +x "$home/bin/kafka-storage.sh"
cd "$home"
exec ./kafka_run.sh
`;

/** Labels every pod of a pool carries; the podset selector uses a subset. */
export function poolLabels(kafkaName: string, pool: string): Record<string, string> {
  return {
    [labels.cluster]: kafkaName,
    [labels.name]: `${kafkaName}-kafka`,
    [labels.kind]: "Kafka",
    [labels.componentType]: "kafka",
    [labels.poolName]: pool,
    "app.kubernetes.io/name": "kafka",
    "app.kubernetes.io/instance": kafkaName,
    [labels.partOf]: `strimzi-${kafkaName}`,
    [labels.managedBy]: "stretch-kafka",
  };
}

/** The podset selector: precise, never empty (an empty one would match every Strimzi pod). */
export function podSetSelector(kafkaName: string, pool: string): Record<string, string> {
  return {
    [labels.cluster]: kafkaName,
    [labels.name]: `${kafkaName}-kafka`,
    [labels.kind]: "Kafka",
    [labels.poolName]: pool,
  };
}

function heapEnv(pool: NodePoolSpec): { name: string; value: string }[] {
  const xms = pool.jvmOptions?.["-Xms"];
  const xmx = pool.jvmOptions?.["-Xmx"];
  if (xms || xmx) {
    return [
      {
        name: "KAFKA_HEAP_OPTS",
        value: [xms ? `-Xms${xms}` : "", xmx ? `-Xmx${xmx}` : ""].filter(Boolean).join(" "),
      },
    ];
  }
  if (pool.resources?.requests?.memory ?? pool.resources?.limits?.memory) {
    return [
      { name: "STRIMZI_DYNAMIC_HEAP_PERCENTAGE", value: "50" },
      { name: "STRIMZI_DYNAMIC_HEAP_MAX", value: "5368709120" },
    ];
  }
  return [{ name: "KAFKA_HEAP_OPTS", value: "-Xms128M" }];
}

function resources(pool: NodePoolSpec): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const part of ["requests", "limits"] as const) {
    const r = pool.resources?.[part];
    if (!r) continue;
    const m: Record<string, string> = {};
    if (r.cpu !== undefined) m["cpu"] = String(r.cpu);
    if (r.memory !== undefined) m["memory"] = String(r.memory);
    out[part] = m;
  }
  return out;
}

export interface PodInput {
  spec: Spec;
  kafkaName: string;
  namespace: string;
  node: KafkaNode;
  pool: NodePoolSpec;
  podSetName: string;
  image: string;
  volumes: NodeVolume[];
  /** The node's rendered ConfigMap data: its hash is part of the revision. */
  configData: Record<string, string>;
  /**
   * Dynamic-quorum controller: format storage in an init container and start
   * through run.sh (the stock script's format refuses such a controller).
   */
  formatInInit: boolean;
  /** External names its certificate must carry (annotations.certificateNames). */
  certificateNames?: string[];
}

/**
 * A short hash of a JSON value. Pods and configuration are built by this
 * module in a fixed key order (user maps are re-assembled in that order), so
 * JSON.stringify is canonical here and much cheaper than sorting keys.
 */
export function stableHash(value: unknown): string {
  return createHash("sha1").update(JSON.stringify(value)).digest("hex").slice(0, 8);
}

export function podDefinition(o: PodInput): Record<string, unknown> {
  const { node, kafkaName, namespace } = o;
  const opened = nodeListeners(o.spec, node);
  const metrics = o.spec.kafka.metrics !== undefined;
  const ports = [
    { name: "tcp-kafkaagent", containerPort: 8443, protocol: "TCP" },
    ...opened.map((k) => ({
      name: listeners[k].portName,
      containerPort: listeners[k].port,
      protocol: "TCP",
    })),
    ...(metrics
      ? [{ name: metricsPort.name, containerPort: metricsPort.port, protocol: "TCP" }]
      : []),
  ];
  const mounts = [
    ...o.volumes.map((v) => ({ name: v.volumeName, mountPath: v.mountPath })),
    {
      name: "kube-api-access",
      mountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
      readOnly: true,
    },
    { name: "strimzi-tmp", mountPath: "/tmp" },
    { name: "kafka-metrics-and-logging", mountPath: "/opt/kafka/custom-config/" },
    { name: "ready-files", mountPath: "/var/opt/kafka" },
    ...(o.formatInInit ? [{ name: "stretch-kafka-run", mountPath: runDir }] : []),
  ];
  const volumes = [
    ...o.volumes.map((v) =>
      v.claimName
        ? { name: v.volumeName, persistentVolumeClaim: { claimName: v.claimName } }
        : { name: v.volumeName, emptyDir: v.sizeLimit ? { sizeLimit: v.sizeLimit } : {} },
    ),
    {
      name: "kube-api-access",
      projected: {
        defaultMode: 420,
        sources: [
          { serviceAccountToken: { path: "token", expirationSeconds: 3607 } },
          { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
          {
            downwardAPI: {
              items: [
                {
                  path: "namespace",
                  fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" },
                },
              ],
            },
          },
        ],
      },
    },
    { name: "strimzi-tmp", emptyDir: { medium: "Memory", sizeLimit: "5Mi" } },
    metrics
      ? {
          // The node's files and the cluster's exporter configuration in one
          // directory, as the image's kafka_run.sh expects them.
          name: "kafka-metrics-and-logging",
          projected: {
            sources: [
              { configMap: { name: node.podName } },
              {
                configMap: {
                  name: metricsConfigMapName(kafkaName),
                  items: [{ key: metricsConfigKey, path: metricsConfigKey }],
                },
              },
            ],
          },
        }
      : { name: "kafka-metrics-and-logging", configMap: { name: node.podName } },
    { name: "ready-files", emptyDir: { medium: "Memory", sizeLimit: "1Ki" } },
    ...(o.formatInInit
      ? [{ name: "stretch-kafka-run", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } }]
      : []),
  ];
  const env = [
    { name: "KAFKA_JMX_EXPORTER_ENABLED", value: String(metrics) },
    { name: "STRIMZI_KAFKA_GC_LOG_ENABLED", value: "false" },
    { name: "KAFKA_CLUSTER_NAME", value: kafkaName },
    ...heapEnv(o.pool),
  ];
  const res = resources(o.pool);
  const container = {
    name: "kafka",
    image: o.image,
    // A dynamic-quorum controller starts through its start script, which runs the stock one.
    args: o.formatInInit
      ? ["/bin/bash", `/opt/kafka/custom-config/${runScriptKey}`]
      : ["/opt/kafka/kafka_run.sh"],
    env,
    ports,
    volumeMounts: mounts,
    ...(Object.keys(res).length > 0 ? { resources: res } : {}),
    livenessProbe: {
      exec: { command: ["/opt/kafka/kafka_liveness.sh"] },
      initialDelaySeconds: 15,
      timeoutSeconds: 5,
    },
    readinessProbe: {
      exec: { command: ["/opt/kafka/kafka_readiness.sh"] },
      initialDelaySeconds: 15,
      timeoutSeconds: 5,
    },
    imagePullPolicy: "IfNotPresent",
  };
  const initContainers = o.formatInInit
    ? [
        {
          name: "kafka-format",
          image: o.image,
          command: ["/bin/bash", `/opt/kafka/custom-config/${formatScriptKey}`],
          env,
          volumeMounts: mounts,
          ...(Object.keys(res).length > 0 ? { resources: res } : {}),
          imagePullPolicy: "IfNotPresent",
        },
      ]
    : [];
  const persistent = o.volumes.some((v) => v.claimName);
  const podLabels = {
    ...poolLabels(kafkaName, node.pool),
    [labels.brokerRole]: String(node.isBroker),
    [labels.controllerRole]: String(node.isController),
    [labels.podName]: node.podName,
    [labels.controller]: "strimzipodset",
    [labels.controllerName]: o.podSetName,
  };
  const spec = {
    hostname: node.podName,
    subdomain: headlessService(kafkaName),
    serviceAccountName: kafkaServiceAccount(kafkaName),
    automountServiceAccountToken: false,
    restartPolicy: "Always",
    terminationGracePeriodSeconds: 30,
    ...(persistent ? { securityContext: { fsGroup: 0 } } : {}),
    // Spread a pool's nodes over the cluster's machines when it can.
    affinity: {
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 100,
            podAffinityTerm: {
              topologyKey: "kubernetes.io/hostname",
              labelSelector: {
                matchLabels: { [labels.cluster]: kafkaName, [labels.kind]: "Kafka" },
              },
            },
          },
        ],
      },
    },
    ...(initContainers.length > 0 ? { initContainers } : {}),
    containers: [container],
    volumes,
  };
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: node.podName,
      namespace,
      labels: stringMap(podLabels),
      annotations: (o.certificateNames && o.certificateNames.length > 0
        ? { [annotations.certificateNames]: o.certificateNames.join(",") }
        : {}) as Record<string, string>,
    },
    spec,
  };
  // The revision changes exactly when the pod or its configuration changes.
  pod.metadata.annotations[annotations.revision] = stableHash({ pod, config: o.configData });
  return pod;
}
