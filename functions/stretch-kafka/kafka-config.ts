/**
 * Each node's KRaft configuration (server.properties). Everything stretch-
 * kafka owns is computed from the topology; user overrides merge over the
 * tunable defaults; owned keys were refused earlier (validate.ts).
 */
import type { NodeAddress } from "./networking/index.ts";
import type { ExternalAddress } from "./external-listener.ts";
import { externalListener, listenerKeys, listeners, type ListenerKey } from "./ports.ts";
import type { Replication } from "../../apis/kafka-rules.ts";
import type { KafkaNode } from "./topology.ts";
import { caCertSecret, clientsCaCertSecret } from "./names.ts";
import type { Spec } from "./spec.ts";

export interface QuorumConfig {
  mode: "static" | "dynamic";
  /**
   * Controllers with their control-plane address (host:port): all of them
   * (static) or the bootstrap set (dynamic), which keeps those of clusters
   * given up for good.
   */
  voters: { id: number; controlplane: string }[];
}

/**
 * Broker settings for links with tens of milliseconds of latency between
 * clusters. Chosen from the bandwidth-delay arithmetic: the real-Kafka
 * benchmark cannot reproduce a socket buffer's limit (its latency proxy
 * terminates TCP), and showed the producer settings below to be what keeps
 * throughput (docs/kafka-configuration.md).
 */
export const latencyDefaults: Record<string, string> = {
  // Let the kernel autotune socket buffers: a fixed 64 KiB window caps one
  // fetcher connection near 6.5 MB/s at 10 ms round trip.
  "socket.send.buffer.bytes": "-1",
  "socket.receive.buffer.bytes": "-1",
  "replica.socket.receive.buffer.bytes": "-1",
  "num.replica.fetchers": "4",
  "replica.fetch.max.bytes": "4194304",
  "replica.fetch.response.max.bytes": "33554432",
};

/**
 * Producer settings for a cluster whose partition leaders and followers are
 * tens of milliseconds apart: an acks=all request waits for the slowest
 * in-sync follower in another cluster, and an idempotent producer keeps at most
 * five requests in flight per broker, so throughput is the bytes per request
 * divided by that wait. Larger batches and requests, more buffer, and
 * kernel-tuned socket buffers keep the pipe full. Published in the connection
 * Secret as producer.properties (docs/kafka-configuration.md has the figures).
 */
export const producerDefaults: Record<string, string> = {
  "batch.size": "524288",
  "linger.ms": "20",
  "max.request.size": "4194304",
  "buffer.memory": "134217728",
  "send.buffer.bytes": "-1",
  "receive.buffer.bytes": "-1",
};

function listenerEnabled(spec: Spec, k: ListenerKey): boolean {
  if (k === "plain") return spec.kafka.listeners?.plain?.enabled ?? true;
  if (k === "tls") return spec.kafka.listeners?.tls?.enabled ?? true;
  return true;
}

/** Listeners a node opens: controllers the control plane, brokers replication and clients. */
export function nodeListeners(spec: Spec, node: KafkaNode): ListenerKey[] {
  return listenerKeys.filter((k) => {
    if (k === "controlplane") return node.isController;
    if (!node.isBroker) return false;
    return listenerEnabled(spec, k);
  });
}

function render(lines: [string, string][]): string {
  return lines.map(([k, v]) => `${k}=${v}`).join("\n") + "\n";
}

/**
 * TLS for one listener, the way the Strimzi image expects it (0.49+): PEM
 * material read from Secrets through the Kubernetes API by Strimzi's
 * KubernetesSecretConfigProvider, with the pod's ServiceAccount.
 */
function tlsLines(
  listenerName: string,
  o: {
    namespace: string;
    kafkaName: string;
    podName: string;
    clientAuth: "required" | "none";
    /** Whose certificates clients present: the cluster CA (nodes, the provider) or the clients CA (users). */
    trust?: "cluster" | "clients";
  },
): [string, string][] {
  const prefix = `listener.name.${listenerName.toLowerCase()}`;
  const secret = (name: string, key: string): string =>
    `\${strimzisecrets:${o.namespace}/${name}:${key}}`;
  return [
    [`${prefix}.ssl.keystore.certificate.chain`, secret(o.podName, `${o.podName}.crt`)],
    [`${prefix}.ssl.keystore.key`, secret(o.podName, `${o.podName}.key`)],
    [`${prefix}.ssl.keystore.type`, "PEM"],
    [
      `${prefix}.ssl.truststore.certificates`,
      secret(
        o.trust === "clients" ? clientsCaCertSecret(o.kafkaName) : caCertSecret(o.kafkaName),
        "ca.crt",
      ),
    ],
    [`${prefix}.ssl.truststore.type`, "PEM"],
    [`${prefix}.ssl.client.auth`, o.clientAuth],
  ];
}

type ClientAuthentication = "tls" | "scram-sha-512";

/** How clients authenticate on a client listener (spec.kafka.listeners.*.authentication). */
export function listenerAuthentication(
  spec: Spec,
  k: ListenerKey,
): ClientAuthentication | undefined {
  if (k === "plain") return spec.kafka.listeners?.plain?.authentication?.type;
  if (k === "tls") return spec.kafka.listeners?.tls?.authentication?.type;
  return undefined;
}

/** Kafka's security protocol of a listener: internal ones are always mutual TLS. */
function securityProtocol(spec: Spec, k: ListenerKey): string {
  const scram = listenerAuthentication(spec, k) === "scram-sha-512";
  if (k === "plain") return scram ? "SASL_PLAINTEXT" : "PLAINTEXT";
  return scram ? "SASL_SSL" : "SSL";
}

/** SCRAM-SHA-512 login on a client listener; the credentials are the KafkaUsers' (AlterUserScramCredentials). */
function scramLines(
  auth: ClientAuthentication | undefined,
  listenerName: string,
): [string, string][] {
  if (auth !== "scram-sha-512") return [];
  const prefix = `listener.name.${listenerName.toLowerCase()}`;
  return [
    [`${prefix}.sasl.enabled.mechanisms`, "SCRAM-SHA-512"],
    [
      `${prefix}.scram-sha-512.sasl.jaas.config`,
      "org.apache.kafka.common.security.scram.ScramLoginModule required;",
    ],
  ];
}

/**
 * The principal of every node's certificate (cluster CA) and of the provider's
 * admin channel, as Kafka names them: the subject in RFC 2253 form, which
 * lists the certificate's RDNs last first (seen in Kafka's authorizer log).
 */
export function nodePrincipal(kafkaName: string): string {
  return `O=stretch-kafka,CN=${kafkaName}-kafka`;
}
export const providerPrincipal = "O=stretch-kafka,CN=stretch-kafka-provider";

/**
 * Simple authorization (spec.kafka.authorization): Kafka's StandardAuthorizer
 * on every node, the controllers included (they authorize what brokers and
 * the admin channel send them); the nodes and the provider are super users.
 */
function authorizationLines(spec: Spec, kafkaName: string): [string, string][] {
  const a = spec.kafka.authorization;
  if (!a) return [];
  const supers = [nodePrincipal(kafkaName), providerPrincipal, ...(a.superUsers ?? [])];
  return [
    ["authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"],
    ["super.users", supers.map((p) => `User:${p}`).join(";")],
  ];
}

/** Config providers the Strimzi image ships, as Strimzi declares them. */
const configProviders: [string, string][] = [
  ["config.providers", "strimzienv,strimzisecrets"],
  [
    "config.providers.strimzienv.class",
    "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
  ],
  ["config.providers.strimzienv.param.allowlist.pattern", ".*"],
  ["config.providers.strimzisecrets.class", "io.strimzi.kafka.KubernetesSecretConfigProvider"],
];

/** The node's server.config: node-specific and owned settings first, then defaults and overrides. */
export function nodeConfig(o: {
  spec: Spec;
  namespace: string;
  kafkaName: string;
  node: KafkaNode;
  address: NodeAddress;
  /** A broker's external listener address (spec.kafka.listeners.external), once known. */
  external?: ExternalAddress;
  quorum: QuorumConfig;
  replication: Replication;
  logDirs: string[];
  metadataLogDir: string;
}): string {
  const { spec, node, address, quorum } = o;
  const opened = nodeListeners(spec, node);
  const ext = node.isBroker ? o.external : undefined;
  const extAuth = spec.kafka.listeners?.external?.authentication?.type;
  const owned: [string, string][] = [
    ["node.id", String(node.id)],
    ["process.roles", node.roles.join(",")],
    [
      "listeners",
      [
        ...opened.map((k) => `${listeners[k].name}://0.0.0.0:${listeners[k].port}`),
        ...(ext ? [`${externalListener.name}://0.0.0.0:${externalListener.port}`] : []),
      ].join(","),
    ],
  ];
  // Controllers advertise their control-plane endpoint by name, in either
  // quorum mode: KIP-853 voters need it, and Kafka 4.3 sends the leader's
  // endpoint to followers of a static quorum too; unadvertised, it is the
  // listener's resolved address, an IP no certificate names (TLS then fails).
  const advertised = opened;
  if (advertised.length > 0) {
    owned.push([
      "advertised.listeners",
      [
        ...advertised.map((k) => `${listeners[k].name}://${address.host}:${address.ports[k]}`),
        ...(ext ? [`${externalListener.name}://${ext.host}:${ext.port}`] : []),
      ].join(","),
    ]);
  }
  owned.push(
    [
      "listener.security.protocol.map",
      [
        ...listenerKeys
          .filter((k) => k === "controlplane" || opened.includes(k))
          .map((k) => `${listeners[k].name}:${securityProtocol(spec, k)}`),
        ...(ext
          ? [`${externalListener.name}:${extAuth === "scram-sha-512" ? "SASL_SSL" : "SSL"}`]
          : []),
      ].join(","),
    ],
    ["controller.listener.names", listeners.controlplane.name],
  );
  if (node.isBroker) owned.push(["inter.broker.listener.name", listeners.replication.name]);
  if (quorum.mode === "static") {
    owned.push([
      "controller.quorum.voters",
      quorum.voters.map((v) => `${v.id}@${v.controlplane}`).join(","),
    ]);
  } else {
    owned.push([
      "controller.quorum.bootstrap.servers",
      quorum.voters.map((v) => v.controlplane).join(","),
    ]);
  }
  owned.push(
    ["broker.rack", node.rack],
    ["log.dirs", o.logDirs.join(",")],
    ["metadata.log.dir", o.metadataLogDir],
  );
  // Internal listeners are mutually authenticated with the cluster CA; brokers
  // need the control-plane settings too, as clients of the controllers.
  const tls = { namespace: o.namespace, kafkaName: o.kafkaName, podName: node.podName };
  owned.push(...tlsLines(listeners.controlplane.name, { ...tls, clientAuth: "required" }));
  if (node.isBroker)
    owned.push(...tlsLines(listeners.replication.name, { ...tls, clientAuth: "required" }));
  const clientTls = (name: string, auth: ClientAuthentication | undefined): [string, string][] =>
    tlsLines(name, {
      ...tls,
      clientAuth: auth === "tls" ? "required" : "none",
      ...(auth === "tls" ? { trust: "clients" as const } : {}),
    });
  if (opened.includes("tls"))
    owned.push(...clientTls(listeners.tls.name, listenerAuthentication(spec, "tls")));
  if (ext) owned.push(...clientTls(externalListener.name, extAuth));
  for (const k of opened)
    owned.push(...scramLines(listenerAuthentication(spec, k), listeners[k].name));
  if (ext) owned.push(...scramLines(extAuth, externalListener.name));
  owned.push(...authorizationLines(spec, o.kafkaName));
  owned.push(["ssl.endpoint.identification.algorithm", "HTTPS"], ...configProviders);

  const { replicationFactor: rf, minInSyncReplicas: isr } = o.replication;
  const defaults: Record<string, string> = {
    "default.replication.factor": String(rf),
    "min.insync.replicas": String(isr),
    "offsets.topic.replication.factor": String(rf),
    "transaction.state.log.replication.factor": String(rf),
    "transaction.state.log.min.isr": String(isr),
    "share.coordinator.state.topic.replication.factor": String(rf),
    "share.coordinator.state.topic.min.isr": String(isr),
    // Consumers read from a replica in their own cluster (client.rack).
    "replica.selector.class": "org.apache.kafka.common.replica.RackAwareReplicaSelector",
    ...latencyDefaults,
  };
  const overrides = (spec.kafka.config ?? {}) as Record<string, string | number | boolean>;
  const merged: Record<string, string> = { ...defaults };
  for (const [k, v] of Object.entries(overrides)) merged[k] = String(v);
  const tunable = Object.keys(merged)
    .sort()
    .map((k): [string, string] => [k, merged[k] ?? ""]);
  return render([...owned, ...tunable]);
}
