/**
 * The external listener (spec.kafka.listeners.external): how clients outside
 * Kubernetes reach the brokers of every cluster. Each cluster gets its own
 * bootstrap address and one address per broker, in Strimzi's listener types:
 * - loadbalancer: a LoadBalancer Service per broker and one for the
 *   bootstrap; the addresses are what the remote cluster wrote in their status.
 * - nodeport: NodePort Services; the cluster's externalAddress and the node
 *   ports its API server assigned.
 * - ingress: ClusterIP Services behind one Ingress per cluster with TLS
 *   passthrough (the TLS session is the broker's: SNI picks the broker), the
 *   hosts from the cluster's ingress.bootstrapHost and hostTemplate, port 443.
 * A broker is configured with the listener only once its own address and its
 * cluster's bootstrap address are both known: its certificate must name both
 * (a client checks the bootstrap's name against whichever broker answers).
 */
import type {
  ClusterSpec,
  ExternalListenerSpec,
  RemoteServiceAtProvider,
} from "../../apis/index.ts";
import { objectName } from "./names.ts";
import { nodeSelector } from "./networking/common.ts";
import { externalListener } from "./ports.ts";
import { brokerSelector } from "./resources/services.ts";
import { remoteMeta, type Manifest, type RemoteObject } from "./resources/remote-object.ts";
import type { ClusterPlan, KafkaNode, Topology } from "./topology.ts";
import { isIp, stringMap } from "./util.ts";

export interface ExternalAddress {
  host: string;
  port: number;
}

export type ExternalResult = { address: ExternalAddress } | { pending: string };

/** Port of every address of type ingress: the ingress controller's TLS port. */
const ingressPort = 443;

export const passthroughAnnotation = "nginx.ingress.kubernetes.io/ssl-passthrough";

export function externalBootstrapService(kafka: string): string {
  return `${kafka}-kafka-external-bootstrap`;
}

/** Strimzi's per-broker Service name of a listener: <kafka>-<pool>-<listener>-<node id>. */
export function externalBrokerService(kafka: string, node: KafkaNode): string {
  return objectName([kafka, node.pool, "external", String(node.id)], 63);
}

export function externalIngress(kafka: string): string {
  return `${kafka}-kafka-external`;
}

/** A broker's ingress host from its cluster's template. */
export function brokerHost(template: string, node: KafkaNode): string {
  return template.replaceAll("{nodeId}", String(node.id)).replaceAll("{nodePodName}", node.podName);
}

const formatted = (a: ExternalAddress): string => `${a.host}:${a.port}`;

export class ExternalAccess {
  constructor(
    readonly spec: ExternalListenerSpec,
    private readonly t: Topology,
    private readonly observedService: (
      cluster: string,
      name: string,
    ) => RemoteServiceAtProvider | undefined,
  ) {}

  private clusterSpec(cluster: string): ClusterSpec | undefined {
    return this.t.clusters.find((c) => c.name === cluster)?.spec;
  }

  /** Where a Service of this listener is reached from outside, or why it is not known yet. */
  private serviceAddress(cluster: string, service: string): ExternalResult {
    const seen = this.observedService(cluster, service);
    if (this.spec.type === "loadbalancer") {
      const lb = seen?.loadBalancerIngress?.[0];
      const host = lb?.hostname ?? lb?.ip;
      return host
        ? { address: { host, port: externalListener.port } }
        : {
            pending: `load balancer of Service ${service} in cluster ${cluster} has no address yet`,
          };
    }
    const host = this.clusterSpec(cluster)?.externalAddress;
    if (!host) return { pending: `cluster ${cluster} has no externalAddress` };
    const port = seen?.ports?.find((p) => p.name === externalListener.portName)?.nodePort;
    return port
      ? { address: { host, port } }
      : { pending: `node port of Service ${service} in cluster ${cluster} not assigned yet` };
  }

  /** The address a broker advertises on EXTERNAL-9094. */
  brokerAddress(node: KafkaNode): ExternalResult {
    if (this.spec.type !== "ingress")
      return this.serviceAddress(node.cluster, externalBrokerService(this.t.kafkaName, node));
    const hosts = this.clusterSpec(node.cluster)?.ingress;
    return hosts
      ? { address: { host: brokerHost(hosts.hostTemplate, node), port: ingressPort } }
      : { pending: `cluster ${node.cluster} has no ingress hosts` };
  }

  /** A cluster's external bootstrap address. */
  bootstrap(cluster: string): ExternalResult {
    if (this.spec.type !== "ingress")
      return this.serviceAddress(cluster, externalBootstrapService(this.t.kafkaName));
    const hosts = this.clusterSpec(cluster)?.ingress;
    return hosts
      ? { address: { host: hosts.bootstrapHost, port: ingressPort } }
      : { pending: `cluster ${cluster} has no ingress hosts` };
  }

  /** The broker's address, if it and its cluster's bootstrap are both known. */
  configurable(node: KafkaNode): ExternalResult {
    const own = this.brokerAddress(node);
    if (!("address" in own)) return own;
    const boot = this.bootstrap(node.cluster);
    return "address" in boot ? own : boot;
  }

  /** The names a broker's certificate must add: its own and its cluster's bootstrap. */
  certificateNames(node: KafkaNode): { dnsNames: string[]; ipAddresses: string[] } {
    const hosts = [this.brokerAddress(node), this.bootstrap(node.cluster)].flatMap((r) =>
      "address" in r ? [r.address.host] : [],
    );
    return {
      dnsNames: hosts.filter((h) => !isIp(h)),
      ipAddresses: hosts.filter(isIp),
    };
  }

  /** Every cluster's known bootstrap address, "host:port". */
  bootstrapServers(): Map<string, string> {
    const out = new Map<string, string>();
    for (const c of this.t.clusters) {
      const b = this.bootstrap(c.name);
      if ("address" in b) out.set(c.name, formatted(b.address));
    }
    return out;
  }

  /** The Services (and Ingress) a cluster needs for this listener. */
  objects(cluster: ClusterPlan): RemoteObject[] {
    const k = this.t.kafkaName;
    const o = { kafkaName: k, namespace: this.t.namespace };
    const type = this.spec.type;
    const lb = this.spec.loadBalancer;
    const serviceSpec: Record<string, unknown> =
      type === "loadbalancer"
        ? {
            type: "LoadBalancer",
            ...(lb?.loadBalancerClass ? { loadBalancerClass: lb.loadBalancerClass } : {}),
          }
        : { type: type === "nodeport" ? "NodePort" : "ClusterIP" };
    const annotations =
      type === "loadbalancer" && lb?.annotations ? stringMap(lb.annotations) : undefined;
    const service = (name: string, selector: Record<string, string>): RemoteObject => ({
      cluster: cluster.name,
      kind: "RemoteService",
      ownedByAnchor: true,
      manifest: {
        apiVersion: "v1",
        kind: "Service",
        metadata: remoteMeta(o, name, annotations ? { annotations } : {}),
        spec: {
          ...serviceSpec,
          selector,
          ports: [
            {
              name: externalListener.portName,
              port: externalListener.port,
              targetPort: externalListener.port,
              protocol: "TCP",
              appProtocol: "tcp",
            },
          ],
        },
      },
    });
    const brokers = cluster.nodes.filter((n) => n.isBroker);
    const out = [
      service(externalBootstrapService(k), brokerSelector(k)),
      ...brokers.map((n) => service(externalBrokerService(k, n), nodeSelector(this.t, n))),
    ];
    const hosts = cluster.spec.ingress;
    if (type === "ingress" && hosts) out.push(this.ingress(cluster, hosts, brokers));
    return out;
  }

  private ingress(
    cluster: ClusterPlan,
    hosts: NonNullable<ClusterSpec["ingress"]>,
    brokers: KafkaNode[],
  ): RemoteObject {
    const k = this.t.kafkaName;
    const rule = (host: string, service: string): Record<string, unknown> => ({
      host,
      http: {
        paths: [
          {
            path: "/",
            pathType: "Prefix",
            backend: { service: { name: service, port: { number: externalListener.port } } },
          },
        ],
      },
    });
    const rules = [
      rule(hosts.bootstrapHost, externalBootstrapService(k)),
      ...brokers.map((n) => rule(brokerHost(hosts.hostTemplate, n), externalBrokerService(k, n))),
    ];
    const manifest: Manifest = {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: remoteMeta({ kafkaName: k, namespace: this.t.namespace }, externalIngress(k), {
        annotations: {
          ...stringMap(this.spec.ingress?.annotations ?? {}),
          [passthroughAnnotation]: "true",
          "nginx.ingress.kubernetes.io/backend-protocol": "HTTPS",
        },
      }),
      spec: {
        ingressClassName: this.spec.ingress?.className ?? "nginx",
        tls: [{ hosts: rules.map((r) => r["host"] as string) }],
        rules,
      },
    };
    return { cluster: cluster.name, kind: "RemoteIngress", manifest, ownedByAnchor: true };
  }
}
