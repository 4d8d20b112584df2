/**
 * Multi-Cluster Services (any MCS-API implementation, e.g. Submariner): each
 * cluster exports the headless service, and a pod is reached at
 * <pod>.<clusterId>.<service>.<namespace>.svc.<clusterset domain>.
 */
import { bootstrapService, headlessService, labels } from "../names.ts";
import type { RemoteObject } from "../resources/remote-object.ts";
import { containerPorts, localNames } from "./common.ts";
import type { NetworkingContext, NetworkingProvider } from "./provider.ts";

function host(ctx: NetworkingContext, networkId: string, podName: string): string {
  const { kafkaName: k, namespace: ns } = ctx.topology;
  return `${podName}.${networkId}.${headlessService(k)}.${ns}.svc.${ctx.networking.clusterSetDomain}`;
}

function networkIdOf(ctx: NetworkingContext, cluster: string): string {
  return ctx.topology.clusters.find((c) => c.name === cluster)?.networkId ?? cluster;
}

export const mcs: NetworkingProvider = {
  name: "mcs",
  nodeAddress(ctx, node) {
    return {
      address: {
        host: host(ctx, networkIdOf(ctx, node.cluster), node.podName),
        ports: containerPorts(),
      },
    };
  },
  certificateNames(ctx, node) {
    const { kafkaName: k, namespace: ns } = ctx.topology;
    return {
      dnsNames: [
        host(ctx, networkIdOf(ctx, node.cluster), node.podName),
        `${bootstrapService(k)}.${ns}.svc.${ctx.networking.clusterSetDomain}`,
        ...localNames(ctx, node),
      ],
      ipAddresses: [],
    };
  },
  objects(ctx, cluster) {
    const { kafkaName: k, namespace: ns } = ctx.topology;
    const exportOf = (service: string): RemoteObject => ({
      cluster: cluster.name,
      kind: "RemoteServiceExport",
      ownedByAnchor: true,
      manifest: {
        apiVersion: "multicluster.x-k8s.io/v1alpha1",
        kind: "ServiceExport",
        metadata: { name: service, namespace: ns, labels: { [labels.cluster]: k } },
      },
    });
    return [exportOf(headlessService(k)), exportOf(bootstrapService(k))];
  },
  clusterSetBootstrap(ctx) {
    const { kafkaName: k, namespace: ns } = ctx.topology;
    return `${bootstrapService(k)}.${ns}.svc.${ctx.networking.clusterSetDomain}:9092`;
  },
};
