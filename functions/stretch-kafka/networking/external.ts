/**
 * NodePort and LoadBalancer: a Service per node in its own cluster; the
 * address is learned from the Service the remote cluster created (node ports,
 * load-balancer ingress). Until it is known the node is not configured at all.
 */
import type { RemoteServiceAtProvider } from "../../../apis/index.ts";
import { listenerKeys, listeners, type ListenerKey } from "../ports.ts";
import type { KafkaNode } from "../topology.ts";
import { isIp, stringMap } from "../util.ts";
import { localNames, perNodeService } from "./common.ts";
import type { AddressResult, NetworkingContext, NetworkingProvider } from "./provider.ts";

const suffix = "-external";

function observed(ctx: NetworkingContext, node: KafkaNode): RemoteServiceAtProvider | undefined {
  return ctx.observedService(node.cluster, `${node.podName}${suffix}`);
}

function nodePortAddress(ctx: NetworkingContext, node: KafkaNode): AddressResult {
  const cluster = ctx.topology.clusters.find((c) => c.name === node.cluster);
  const host = cluster?.spec.externalAddress;
  if (!host) return { pending: `cluster ${node.cluster} has no externalAddress` };
  const svc = observed(ctx, node);
  const ports: Partial<Record<ListenerKey, number>> = {};
  for (const k of listenerKeys) {
    const p = svc?.ports?.find((x) => x.name === listeners[k].portName)?.nodePort;
    if (p) ports[k] = p;
  }
  if (listenerKeys.some((k) => ports[k] === undefined)) {
    return {
      pending: `node ports of Service ${node.podName}${suffix} in cluster ${node.cluster} not assigned yet`,
    };
  }
  return { address: { host, ports: ports as Record<ListenerKey, number> } };
}

function loadBalancerAddress(ctx: NetworkingContext, node: KafkaNode): AddressResult {
  const ingress = observed(ctx, node)?.loadBalancerIngress?.[0];
  const host = ingress?.hostname ?? ingress?.ip;
  if (!host) {
    return {
      pending: `load balancer of Service ${node.podName}${suffix} in cluster ${node.cluster} has no address yet`,
    };
  }
  const ports = Object.fromEntries(listenerKeys.map((k) => [k, listeners[k].port])) as Record<
    ListenerKey,
    number
  >;
  return { address: { host, ports } };
}

function external(name: "nodeport" | "loadbalancer"): NetworkingProvider {
  const address = name === "nodeport" ? nodePortAddress : loadBalancerAddress;
  return {
    name,
    nodeAddress: address,
    certificateNames(ctx, node) {
      const a = address(ctx, node);
      const host = "address" in a ? a.address.host : undefined;
      return {
        dnsNames: [...(host && !isIp(host) ? [host] : []), ...localNames(ctx, node)],
        ipAddresses: host && isIp(host) ? [host] : [],
      };
    },
    objects(ctx, cluster) {
      const lb = ctx.networking.loadBalancer;
      return cluster.nodes.map((node) =>
        name === "nodeport"
          ? perNodeService(ctx, cluster, node, { type: "NodePort" }, { nameSuffix: suffix })
          : perNodeService(
              ctx,
              cluster,
              node,
              {
                type: "LoadBalancer",
                ...(lb?.loadBalancerClass ? { loadBalancerClass: lb.loadBalancerClass } : {}),
              },
              {
                nameSuffix: suffix,
                ...(lb?.annotations ? { annotations: stringMap(lb.annotations) } : {}),
              },
            ),
      );
    },
    clusterSetBootstrap() {
      return undefined;
    },
  };
}

export const nodeport = external("nodeport");
export const loadbalancer = external("loadbalancer");
